-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)
-- Host: db01.internal    Database: shop
CREATE TABLE `customers` (`id` int NOT NULL AUTO_INCREMENT, `email` varchar(255), `name` varchar(255), PRIMARY KEY (`id`));
INSERT INTO `customers` VALUES (1,'h.tanaka@example.jp','Hiroshi Tanaka'),(2,'m.suzuki@example.jp','Mai Suzuki');
