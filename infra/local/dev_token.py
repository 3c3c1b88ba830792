#!/usr/bin/env python3
"""Prints a short-lived admin token for the local stack (signed with its dev key, .local/).

  .venv/bin/python infra/local/dev_token.py                 # ops, 60 minutes
  .venv/bin/python infra/local/dev_token.py --role viewer   # read only

Use it as `Authorization: Bearer <token>` against the local admin API, or paste it into the ops
console's sign-in. Deployed, tokens come from the stack's identity provider (AdminJwtIssuer).
"""
import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dev_auth  # noqa: E402
import provision  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["ops", "viewer"], default="ops")
    ap.add_argument("--subject", help="who the token is for (recorded with every write); default dev-<role>")
    ap.add_argument("--minutes", type=int, default=60, help=f"lifetime, 1 to {dev_auth.MAX_MINUTES}")
    args = ap.parse_args(argv)
    params = provision.LOCAL_PARAMETERS
    role_claim = provision.load_template(provision.ROOT / "template.yaml")["Parameters"]["AdminRoleClaim"]["Default"]
    try:
        token = dev_auth.mint(
            params["AdminJwtIssuer"], params["AdminJwtAudience"], args.role,
            args.subject or f"dev-{args.role}", args.minutes, role_claim=role_claim,
        )
    except ValueError as e:
        ap.error(str(e))
    print(token)


if __name__ == "__main__":
    main()
