FLUSH PRIVILEGES;
CREATE USER 'dbadmin'@'%' IDENTIFIED BY 'admin123';
GRANT ALL PRIVILEGES ON *.* TO 'dbadmin'@'%';
CREATE DATABASE shop;
CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(64), email VARCHAR(128));
INSERT INTO shop.customers VALUES (1,'Alice Example','alice@example.com'),(2,'Bob Example','bob@example.com'),(3,'Carol Example','carol@example.com');
