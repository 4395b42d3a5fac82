import pymongo, sys
port = int(sys.argv[1])
try:
    c = pymongo.MongoClient(f'mongodb://mallory:hunter2@127.0.0.1:{port}/?authSource=admin&directConnection=true', serverSelectionTimeoutMS=3000)
    c.admin.command('ping')
except Exception as e:
    print('auth:', type(e).__name__, e)
c = pymongo.MongoClient(f'mongodb://127.0.0.1:{port}/?directConnection=true', serverSelectionTimeoutMS=3000)
db = c.shop
db.cards.insert_many([{'card': '4111'}, {'card': '5500'}, {'card': '3400'}])
print(list(db.cards.find({'card': {'$regex': '^4'}})))
db.cards.update_one({'_id': 1}, {'$set': {'card': 'x'}})
db.cards.delete_many({})
try:
    db.cards.drop()
except Exception as e:
    print('drop:', e)
c.close()
