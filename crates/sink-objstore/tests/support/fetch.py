#!/usr/bin/env python3
"""Outside judge for the object-store tests: lists and downloads a store
through the server (boto3 for S3, plain HTTP GETs for a PAR), writing the
objects under OUTDIR by their name less the prefix, and prints a JSON map
name -> Content-Type.

  fetch.py mkbucket ENDPOINT BUCKET
  fetch.py put ENDPOINT BUCKET KEY TEXT
  fetch.py s3 ENDPOINT BUCKET PREFIX OUTDIR
  fetch.py par PAR_URL PREFIX OUTDIR
"""
import json, os, sys, urllib.parse, urllib.request


def s3client(endpoint):
    import boto3
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def save(outdir, name, data):
    path = os.path.join(outdir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    cmd = sys.argv[1]
    types = {}
    if cmd == "mkbucket":
        s3client(sys.argv[2]).create_bucket(Bucket=sys.argv[3])
    elif cmd == "put":
        endpoint, bucket, key, text = sys.argv[2:6]
        s3client(endpoint).put_object(Bucket=bucket, Key=key, Body=text.encode())
    elif cmd == "s3":
        endpoint, bucket, prefix, outdir = sys.argv[2:6]
        c = s3client(endpoint)
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                r = c.get_object(Bucket=bucket, Key=o["Key"])
                name = o["Key"][len(prefix):]
                save(outdir, name, r["Body"].read())
                types[name] = r.get("ContentType", "")
    elif cmd == "par":
        par, prefix, outdir = sys.argv[2:5]
        q = urllib.parse.urlencode({"prefix": prefix, "fields": "name,size"})
        with urllib.request.urlopen(f"{par}?{q}") as r:
            listing = json.load(r)
        for o in listing["objects"]:
            url = par + urllib.parse.quote(o["name"])
            with urllib.request.urlopen(url) as r:
                name = o["name"][len(prefix):]
                save(outdir, name, r.read())
                types[name] = r.headers.get("Content-Type", "")
    print(json.dumps(types))


main()
