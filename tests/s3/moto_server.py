"""The S3-compatible server of the S3 tests: moto's server on a free loopback port.

    target/s3-venv/bin/python tests/s3/moto_server.py BUCKET [BUCKET ...]

Starts moto on 127.0.0.1 (port 0: the OS picks a free one), creates an IAM user allowed s3:*
with an access key, creates the buckets, then turns authentication ON, so every later request
must be signed with that key (wrong keys get InvalidAccessKeyId / SignatureDoesNotMatch like
real S3). When all that is done it prints ONE line of JSON on stdout, the readiness event the
test waits for:

    {"endpoint": "http://127.0.0.1:PORT", "access_key_id": "...", "secret_access_key": "..."}

It serves until its stdin closes (the test holds the pipe; if the test dies, so does the server).
Installed by tests/s3/setup.sh.
"""

import json
import logging
import sys

import boto3
from moto import settings
from moto.server import ThreadedMotoServer


def main() -> None:
    # One line per request on stderr would drown the test's output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # Authentication is off until INITIAL_NO_AUTH_ACTION_COUNT requests have been served
    # (default: never), so these bootstrap calls need no real key.
    boot = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam = boto3.client("iam", **boot)
    iam.create_user(UserName="reelforest")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="reelforest", PolicyName="s3-all", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="reelforest")["AccessKey"]
    s3 = boto3.client("s3", **boot)
    for bucket in sys.argv[1:]:
        s3.create_bucket(Bucket=bucket)
    # From now on every request is authenticated and authorised.
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    print(
        json.dumps(
            {"endpoint": endpoint, "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
        ),
        flush=True,
    )
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
