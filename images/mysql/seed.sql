-- Fake data only: names, mails and cards are invented. One statement a line.
CREATE DATABASE IF NOT EXISTS shop;
CREATE DATABASE IF NOT EXISTS hr;
CREATE TABLE shop.customers (id INT PRIMARY KEY AUTO_INCREMENT, email VARCHAR(255) NOT NULL, name VARCHAR(255), phone VARCHAR(32), created_at DATETIME DEFAULT '2024-03-01 09:00:00');
CREATE TABLE shop.orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT, total_yen INT, status VARCHAR(16), card_last4 CHAR(4));
CREATE TABLE shop.admin_users (id INT PRIMARY KEY AUTO_INCREMENT, login VARCHAR(64), password_md5 CHAR(32), last_login DATETIME);
INSERT INTO shop.customers (email, name, phone) VALUES ('h.tanaka@example.jp','Hiroshi Tanaka','090-1111-2222'),('m.suzuki@example.jp','Mai Suzuki','080-3333-4444'),('k.sato@example.jp','Kenji Sato','070-5555-6666'),('y.ito@example.jp','Yui Ito','090-7777-8888');
INSERT INTO shop.orders (customer_id, total_yen, status, card_last4) VALUES (1,12800,'shipped','4242'),(2,3400,'paid','1881'),(3,56000,'pending','0005'),(1,980,'refunded','4242');
INSERT INTO shop.admin_users (login, password_md5, last_login) VALUES ('admin','21232f297a57a5a743894a0e4a801fc3','2026-11-20 08:12:44'),('ops','5f4dcc3b5aa765d61d8327deb882cf99','2026-11-24 17:40:02');
CREATE TABLE hr.employees (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(255), department VARCHAR(64), salary_yen INT);
INSERT INTO hr.employees (name, department, salary_yen) VALUES ('Aiko Yamada','Finance',6200000),('Daichi Kobayashi','Logistics',4800000),('Emi Watanabe','IT',7100000);
