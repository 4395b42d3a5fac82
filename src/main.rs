fn main() {
    println!("kyoka");
}
