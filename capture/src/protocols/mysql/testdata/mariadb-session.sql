create database shop;
use shop;
create table t(name text, n int);
load data local infile '/tmp/mdb/in.txt' into table t;
select * from t;
insert into t values ('dave', 4), ('eve', 5);
update t set n = n + 1;
select * from nope;
delimiter //
create procedure p() begin select 1 as one; select name from t; end//
delimiter ;
call p();
select 1; select 2;
drop database shop;
