#!/usr/bin/env python3
"""Provision the local AWS stack (moto's server) from template.yaml.

template.yaml is the single source of truth: every SQS queue, Secrets Manager secret, DynamoDB
table and S3 bucket it declares is created here with the properties it declares, and every function's
environment, routes and triggers are resolved from it. Nothing is kept twice.

Prints (or writes with --out) a JSON description of the provisioned stack:
  {"endpoint", "region", "stack", "resources": {LogicalId: {...}}, "functions": {LogicalId: {...}}}
"""
import argparse
import json
import re
import sys
import urllib.request
from pathlib import Path

import boto3
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
LOCAL_SECRET = Path(__file__).resolve().parent / "secrets.local.json"
# Plans, affiliates and coupon codes for the local stack. Loaded through the admin API (the code
# path ops use on a deployed stack): stack.py with a dev token, the Rust tests in-process.
DIRECTORY = Path(__file__).resolve().parent / "directory.json"
ACCOUNT = "123456789012"  # moto's default account

# CloudFormation AWS::SQS::Queue properties that are SQS queue attributes of the same name.
QUEUE_ATTRIBUTES = [
    "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit",
    "MessageRetentionPeriod", "VisibilityTimeout", "DelaySeconds", "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds", "SqsManagedSseEnabled",
]


class Unresolved(Exception):
    """A reference to a resource that has not been created yet."""


# The local stack's values for parameters that have no default (a deployment must choose them).
# The admin API's tokens locally are minted by infra/local/dev_token.py with the stack's dev key.
LOCAL_PARAMETERS = {
    "AdminJwtIssuer": "https://prop-local.localhost/dev-issuer",
    "AdminJwtAudience": "prop-admin-local",
}


class Provisioner:
    def __init__(self, template, endpoint, region, stack, parameters=None):
        self.t = template
        # Values for template parameters, as `sam deploy --parameter-overrides` gives them.
        self.parameters = dict(parameters or {})
        unknown = set(self.parameters) - set(template.get("Parameters", {}))
        if unknown:
            raise SystemExit(f"template.yaml has no parameters {sorted(unknown)}")
        self.endpoint = endpoint
        self.region = region
        self.stack = stack
        self.created = {}  # LogicalId -> {"ref": ..., "attrs": {...}}
        session = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=region
        )
        self.sqs = session.client("sqs", endpoint_url=endpoint)
        self.secrets = session.client("secretsmanager", endpoint_url=endpoint)
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        self.s3 = session.client("s3", endpoint_url=endpoint)

    # ------------------------------------------------------------------ intrinsics
    def pseudo(self, name):
        return {
            "AWS::StackName": self.stack,
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def ref(self, name):
        value = self.pseudo(name)
        if value is not None:
            return value
        params = self.t.get("Parameters", {})
        if name in params:
            if name in self.parameters:
                return self.parameters[name]
            if "Default" not in params[name]:
                raise SystemExit(f"template.yaml: parameter {name} has no default: give it a value")
            return params[name]["Default"]
        resources = self.t.get("Resources", {})
        if name not in resources:
            raise SystemExit(f"template.yaml: Ref to unknown name {name!r}")
        if name not in self.created:
            raise Unresolved(name)
        return self.created[name]["ref"]

    def get_att(self, name, attr):
        if name not in self.created:
            if name not in self.t.get("Resources", {}):
                raise SystemExit(f"template.yaml: GetAtt of unknown resource {name!r}")
            raise Unresolved(name)
        attrs = self.created[name]["attrs"]
        if attr not in attrs:
            raise SystemExit(f"local stack: {name}.{attr} is not provided locally")
        return attrs[attr]

    def resolve(self, value):
        if isinstance(value, dict) and len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attr)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                def sub(m):
                    token = m.group(1)
                    if token in extra:
                        return str(self.resolve(extra[token]))
                    if "." in token and not token.startswith("AWS::"):
                        return str(self.get_att(*token.split(".", 1)))
                    return str(self.ref(token))
                return re.sub(r"\$\{([^}!]+)\}", sub, text)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(self.resolve(i)) for i in items)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    # ------------------------------------------------------------------ resources
    def create_queue(self, logical, props):
        name = self.resolve(props.get("QueueName", f"{self.stack}-{logical}"))
        attributes = {}
        for key in QUEUE_ATTRIBUTES:
            if key in props:
                v = self.resolve(props[key])
                attributes[key] = str(v).lower() if isinstance(v, bool) else str(v)
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(self.resolve(props["RedrivePolicy"]))
        url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"ref": url, "attrs": {"Arn": arn, "QueueName": name, "QueueUrl": url}}

    def create_secret(self, logical, props):
        name = self.resolve(props.get("Name", f"{self.stack}/{logical}"))
        # Locally the secret gets the documented local value; deployed, an operator puts it.
        value = LOCAL_SECRET.read_text()
        arn = self.secrets.create_secret(Name=name, SecretString=value)["ARN"]
        return {"ref": arn, "attrs": {"Id": arn}}

    def create_table(self, logical, props):
        name = self.resolve(props.get("TableName", f"{self.stack}-{logical}"))
        args = {
            "TableName": name,
            "AttributeDefinitions": self.resolve(props["AttributeDefinitions"]),
            "KeySchema": self.resolve(props["KeySchema"]),
            "BillingMode": self.resolve(props.get("BillingMode", "PAY_PER_REQUEST")),
        }
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
            if key in props:
                args[key] = self.resolve(props[key])
        desc = self.dynamodb.create_table(**args)["TableDescription"]
        # Point-in-time recovery as the template declares it (ExportTableToPointInTime needs it).
        if self.resolve(props.get("PointInTimeRecoverySpecification", {})).get("PointInTimeRecoveryEnabled"):
            self.dynamodb.update_continuous_backups(
                TableName=desc["TableName"],
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        attrs = {"Arn": desc["TableArn"]}
        if "LatestStreamArn" in desc:
            attrs["StreamArn"] = desc["LatestStreamArn"]
        return {"ref": name, "attrs": attrs}

    def create_bucket(self, logical, props):
        # A deployed bucket gets a generated name; locally a readable one (S3 names are lower case).
        name = self.resolve(props.get("BucketName", f"{self.stack}-{logical}".lower()))
        if self.region == "us-east-1":
            self.s3.create_bucket(Bucket=name)
        else:
            self.s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        if "VersioningConfiguration" in props:
            self.s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": self.resolve(props["VersioningConfiguration"])["Status"]})
        if "BucketEncryption" in props:
            # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
            rules = [{("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                      for k, v in rule.items()}
                     for rule in self.resolve(props["BucketEncryption"])["ServerSideEncryptionConfiguration"]]
            self.s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in props:
            self.s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=self.resolve(props["PublicAccessBlockConfiguration"]))
        return {"ref": name, "attrs": {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}}

    CREATORS = {
        "AWS::S3::Bucket": "create_bucket",
        "AWS::SQS::Queue": "create_queue",
        "AWS::SecretsManager::Secret": "create_secret",
        "AWS::DynamoDB::Table": "create_table",
    }

    def provision(self):
        pending = {
            logical: res
            for logical, res in self.t.get("Resources", {}).items()
            if res["Type"] in self.CREATORS
        }
        while pending:
            progressed = False
            for logical, res in list(pending.items()):
                try:
                    creator = getattr(self, self.CREATORS[res["Type"]])
                    self.created[logical] = creator(logical, res.get("Properties", {}))
                    self.created[logical]["type"] = res["Type"]
                except Unresolved:
                    continue
                del pending[logical]
                progressed = True
            if not progressed:
                raise SystemExit(f"template.yaml: circular or unsatisfiable references among {sorted(pending)}")
        return self.describe()

    # ------------------------------------------------------------------ functions
    def functions(self):
        globals_fn = self.t.get("Globals", {}).get("Function", {})
        global_env = globals_fn.get("Environment", {}).get("Variables", {})
        out = {}
        for logical, res in self.t.get("Resources", {}).items():
            if res["Type"] != "AWS::Serverless::Function":
                continue
            props = res.get("Properties", {})
            binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if not binary:
                raise SystemExit(f"template.yaml: {logical} has no Metadata.BuildProperties.Binary")
            env = dict(global_env)
            env.update(props.get("Environment", {}).get("Variables", {}))
            routes = [
                {
                    "method": e["Properties"]["Method"].upper(),
                    "path": e["Properties"]["Path"],
                    "api": self.api_of(e["Properties"]),
                    "authorizer": self.authorizer_of(e["Properties"]),
                }
                for e in props.get("Events", {}).values()
                if e["Type"] == "HttpApi"
            ]
            queues = [
                {
                    "queue_url": self.queue_url_for_arn(self.resolve(e["Properties"]["Queue"])),
                    "queue_arn": self.resolve(e["Properties"]["Queue"]),
                    "batch_size": e["Properties"].get("BatchSize", 10),
                    "report_batch_item_failures":
                        "ReportBatchItemFailures" in e["Properties"].get("FunctionResponseTypes", []),
                }
                for e in props.get("Events", {}).values()
                if e["Type"] == "SQS"
            ]
            schedules = [
                {"schedule": self.resolve(e["Properties"]["Schedule"])}
                for e in props.get("Events", {}).values()
                if e["Type"] == "Schedule"
            ]
            out[logical] = {
                "schedules": schedules,
                "binary": binary,
                "environment": {k: str(self.resolve(v)) for k, v in env.items()},
                "routes": routes,
                "sqs_triggers": queues,
                "timeout": props.get("Timeout", globals_fn.get("Timeout", 3)),
            }
        return out

    def api_of(self, event_props):
        """The HttpApi a route belongs to (SAM's implicit API when it names none)."""
        api = event_props.get("ApiId")
        if api is None:
            return "ServerlessHttpApi"
        if not (isinstance(api, dict) and "Ref" in api):
            raise SystemExit("template.yaml: an HttpApi event's ApiId must be a Ref")
        return api["Ref"]

    def authorizer_of(self, event_props):
        """The JWT authorizer API Gateway runs before the route's function, as the gateway must
        emulate it: the route's own Auth.Authorizer, else its API's DefaultAuthorizer; None when
        the route has none."""
        api = self.api_of(event_props)
        auth = self.t["Resources"].get(api, {}).get("Properties", {}).get("Auth", {})
        name = event_props.get("Auth", {}).get("Authorizer", auth.get("DefaultAuthorizer"))
        if name in (None, "NONE"):
            return None
        spec = auth.get("Authorizers", {}).get(name)
        if spec is None or "JwtConfiguration" not in spec:
            raise SystemExit(f"template.yaml: route authorizer {name!r} is not a JWT authorizer of {api}")
        jwt_config = spec["JwtConfiguration"]
        return {
            "name": name,
            "identity_source": spec.get("IdentitySource", "$request.header.Authorization"),
            "issuer": self.resolve(jwt_config["issuer"]),
            "audience": [self.resolve(a) for a in jwt_config["audience"]],
        }

    def queue_url_for_arn(self, arn):
        for res in self.created.values():
            if res.get("attrs", {}).get("Arn") == arn and "QueueUrl" in res["attrs"]:
                return res["attrs"]["QueueUrl"]
        raise SystemExit(f"template.yaml: SQS trigger on {arn}, which is not a queue in the template")

    def describe(self):
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "stack": self.stack,
            "resources": {
                k: {"type": v["type"], "ref": v["ref"], **v["attrs"]} for k, v in self.created.items()
            },
            "functions": self.functions(),
        }


def load_template(path):
    return cfn_yaml.load(str(path))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="moto server URL, e.g. http://127.0.0.1:5000")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--stack", default="prop-local")
    ap.add_argument("--template", default=str(ROOT / "template.yaml"))
    ap.add_argument("--out", help="write the description here instead of stdout")
    ap.add_argument("--reset", action="store_true", help="empty every moto service first")
    ap.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                    help="a template parameter's value (default: the local stack's, see LOCAL_PARAMETERS)")
    args = ap.parse_args(argv)
    if args.reset:
        urllib.request.urlopen(urllib.request.Request(f"{args.endpoint}/moto-api/reset", method="POST"), timeout=30)
    parameters = dict(LOCAL_PARAMETERS)
    for p in args.parameter:
        name, sep, value = p.partition("=")
        if not sep:
            raise SystemExit(f"--parameter {p!r}: expected NAME=VALUE")
        parameters[name] = value
    provisioner = Provisioner(load_template(args.template), args.endpoint, args.region, args.stack, parameters)
    description = provisioner.provision()
    text = json.dumps(description, indent=2, sort_keys=True)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
