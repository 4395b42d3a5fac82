#!/usr/bin/python3
"""Drive the MongoDB stand-in with pymongo (Debian's python3-pymongo), the real
driver whose bytes end up in captures/mongo/. Prints one line per step.

usage: mongo_client.py HOST PORT
"""

import sys

import pymongo
from pymongo.errors import OperationFailure, PyMongoError

host, port = sys.argv[1], int(sys.argv[2])
common = dict(
    directConnection=True,
    serverSelectionTimeoutMS=5000,
    connectTimeoutMS=5000,
    heartbeatFrequencyMS=60000,
    appname="kyoka-capture",
    authSource="admin",
    authMechanism="SCRAM-SHA-256",
)

# 1. A failed login (wrong password).
bad = pymongo.MongoClient(host, port, username="mongoadmin", password="wrongpass", **common)
try:
    bad.admin.command("ping")
    print("bad-login: unexpectedly ok")
except OperationFailure as err:
    print("bad-login: failed as expected:", err.code)
except PyMongoError as err:
    print("bad-login: error", err)
bad.close()

# 2. A good login and a session of commands.
client = pymongo.MongoClient(host, port, username="mongoadmin", password="mongo123", **common)
try:
    print("ping:", client.admin.command("ping"))
    print("buildInfo:", client.admin.command("buildInfo").get("version"))
    print("databases:", client.list_database_names())
    shop = client.shop
    print("insert_one:", shop.customers.insert_one({"_id": 3, "name": "Carol", "email": "carol@example.com"}).inserted_id)
    many = shop.orders.insert_many([{"_id": 10, "item": "disk", "qty": 2}, {"_id": 11, "item": "ram", "qty": 4}])
    print("insert_many:", many.inserted_ids)
    print("find:", list(shop.customers.find({"name": "Alice"})))
except PyMongoError as err:
    print("session error:", err)
client.close()
