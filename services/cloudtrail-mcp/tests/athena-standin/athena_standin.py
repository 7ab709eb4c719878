#!/usr/bin/env python3
"""A local Amazon Athena stand-in that really runs the SQL, for cloudtrail-mcp's athena source.

It speaks Athena's JSON 1.1 protocol (StartQueryExecution with ExecutionParameters,
GetQueryExecution with Statistics.DataScannedInBytes, GetQueryResults with paging and the header
row, StopQueryExecution, GetWorkGroup) and executes each query with DuckDB, after transpiling it
from Athena's Trino dialect with sqlglot, over CloudTrail log files laid out on local disk as in
S3 (`<root>/AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz`).

The table has the columns of AWS's documented CloudTrail table (requestparameters,
responseelements, additionaleventdata as JSON text, useridentity and resources as structs,
readonly as a string) and the projected partitions `account`, `region` and `timestamp`
(`yyyy/MM/dd`). Like a workgroup guard, it refuses a query without a predicate on `timestamp`,
reads only the partitions the query's partition predicates select, reports the bytes of those
files as data scanned, once per read of the table after inlining the `WITH` queries that read
it (Trino plans a CTE at every reference, and Athena bills every scan: a CTE referenced four
times scans the table four times), and cancels a query over the `--cutoff-bytes` limit with
Athena's "Bytes scanned limit was exceeded" reason.

Usage: athena_standin.py --root DIR [--cutoff-bytes N] [--delay-ms N]
Prints `athena-standin listening on http://127.0.0.1:PORT` once ready. GET /_stats returns
what it saw (queries started, stopped), for tests.
"""

import argparse
import json
import os
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

PARTITIONS = ("account", "region", "timestamp")

# The documented CloudTrail table's columns (subset the server reads, same names and types),
# as DuckDB types of the log files' `Records` items, with their JSON field names.
RECORD_TYPE = (
    "STRUCT(eventVersion VARCHAR, "
    "userIdentity STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, accountId VARCHAR, "
    "invokedBy VARCHAR, accessKeyId VARCHAR, userName VARCHAR), "
    "eventTime VARCHAR, eventSource VARCHAR, eventName VARCHAR, awsRegion VARCHAR, "
    "sourceIPAddress VARCHAR, userAgent VARCHAR, errorCode VARCHAR, errorMessage VARCHAR, "
    "requestParameters JSON, responseElements JSON, additionalEventData JSON, "
    "requestID VARCHAR, eventID VARCHAR, readOnly VARCHAR, "
    "resources STRUCT(ARN VARCHAR, accountId VARCHAR, type VARCHAR)[], "
    "eventType VARCHAR, apiVersion VARCHAR, recipientAccountId VARCHAR, "
    "serviceEventDetails JSON, sharedEventID VARCHAR, vpcEndpointId VARCHAR, eventCategory VARCHAR)"
)

SELECT_COLUMNS = (
    "r.eventVersion AS eventversion, "
    "struct_pack(type := r.userIdentity.type, principalid := r.userIdentity.principalId, "
    "arn := r.userIdentity.arn, accountid := r.userIdentity.accountId, "
    "invokedby := r.userIdentity.invokedBy, accesskeyid := r.userIdentity.accessKeyId, "
    "username := r.userIdentity.userName) AS useridentity, "
    "r.eventTime AS eventtime, r.eventSource AS eventsource, r.eventName AS eventname, "
    "r.awsRegion AS awsregion, r.sourceIPAddress AS sourceipaddress, r.userAgent AS useragent, "
    "r.errorCode AS errorcode, r.errorMessage AS errormessage, "
    "CAST(r.requestParameters AS VARCHAR) AS requestparameters, "
    "CAST(r.responseElements AS VARCHAR) AS responseelements, "
    "CAST(r.additionalEventData AS VARCHAR) AS additionaleventdata, "
    "r.requestID AS requestid, r.eventID AS eventid, r.readOnly AS readonly, "
    "list_transform(r.resources, x -> struct_pack(arn := x.ARN, accountid := x.accountId, type := x.type)) AS resources, "
    "r.eventType AS eventtype, r.apiVersion AS apiversion, r.recipientAccountId AS recipientaccountid, "
    "CAST(r.serviceEventDetails AS VARCHAR) AS serviceeventdetails, r.sharedEventID AS sharedeventid, "
    "r.vpcEndpointId AS vpcendpointid, r.eventCategory AS eventcategory"
)

LAYOUT = re.compile(
    r"AWSLogs/(?:o-[a-z0-9]+/)?(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})$"
)


class QueryError(Exception):
    """A query Athena would refuse (InvalidRequestException) or fail."""


def partitions(root):
    """Every partition folder on disk: (account, region, 'yyyy/MM/dd', folder, files, bytes)."""
    out = []
    for folder, _dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root).replace(os.sep, "/")
        m = LAYOUT.search(rel)
        if not m:
            continue
        logs = sorted(
            os.path.join(folder, f) for f in files if f.endswith(".json.gz") or f.endswith(".json")
        )
        if logs:
            account, region, y, mo, d = m.groups()
            size = sum(os.path.getsize(f) for f in logs)
            out.append((account, region, f"{y}/{mo}/{d}", folder, logs, size))
    return out


def bind(sql, params):
    """Replaces each `?` placeholder with its execution parameter (a SQL literal), in order."""
    tokens = [t for t in sqlglot.tokenize(sql, read="trino") if t.token_type == TokenType.PLACEHOLDER]
    if len(tokens) != len(params):
        raise QueryError(
            f"the query has {len(tokens)} parameter placeholders but {len(params)} execution parameters were given"
        )
    for p in params:
        literal = sqlglot.parse_one(p, read="trino")
        if not isinstance(literal, (exp.Literal, exp.Neg, exp.Null, exp.Boolean)):
            raise QueryError(f"execution parameter {p!r} is not a literal")
    out = sql
    for token, p in sorted(zip(tokens, params), key=lambda tp: tp[0].start, reverse=True):
        out = out[: token.start] + p + out[token.end + 1 :]
    return out


def conjuncts(where):
    node = where.this if isinstance(where, exp.Where) else where
    if isinstance(node, exp.And):
        return conjuncts(node.left) + conjuncts(node.right)
    if isinstance(node, exp.Paren):
        return conjuncts(node.this)
    return [node]


def reads(table, tree, through=()):
    """How many times the engine reads `table` (a node of `tree`) once every reference to a
    `WITH` query is inlined, as Trino (Athena engine 3) plans it: a table read inside a CTE is
    read once per reference to that CTE, recursively (a CTE referenced twice by a CTE that is
    itself referenced twice is read four times). Athena bills each of those reads."""
    cte = table.find_ancestor(exp.CTE)
    if cte is None:
        return 1
    name = cte.alias_or_name.lower()
    if name in through:
        raise QueryError(f"the WITH query `{name}` refers to itself")
    total = 0
    for ref in tree.find_all(exp.Table):
        if ref.args.get("db") or ref.name.lower() != name:
            continue
        # A reference from inside the CTE's own body would be recursion (refused above).
        inside = ref.find_ancestor(exp.CTE)
        while inside is not None and inside is not cte:
            inside = inside.find_ancestor(exp.CTE)
        if inside is cte:
            raise QueryError(f"the WITH query `{name}` refers to itself")
        total += reads(ref, tree, through + (name,))
    return total


def partition_predicates(tree):
    """The WHERE conjuncts of the select that reads the table which name only partition columns,
    and how many times the plan reads the table there ([`reads`])."""
    tables = list(tree.find_all(exp.Table))
    named = [t for t in tables if t.name and t.args.get("db")]
    if not named:
        raise QueryError("the query reads no table")
    found = []
    for table in named:
        select = table.find_ancestor(exp.Select)
        where = select.args.get("where") if select else None
        preds = []
        for c in conjuncts(where) if where else []:
            cols = {col.name.lower() for col in c.find_all(exp.Column)}
            if cols and cols <= set(PARTITIONS):
                preds.append(c)
        if not any("timestamp" in {col.name.lower() for col in p.find_all(exp.Column)} for p in preds):
            raise QueryError(
                "the query has no predicate on the partition column `timestamp`: it would scan the whole trail"
            )
        found.append((table, preds, reads(table, tree)))
    return found


def text(value):
    """A value as Athena renders it in GetQueryResults."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Engine:
    def __init__(self, root, cutoff, delay_ms):
        self.root = root
        self.cutoff = cutoff
        self.delay = delay_ms / 1000.0
        self.lock = threading.Lock()
        self.queries = {}
        self.stopped = []
        # One database for the cache of parsed partitions; queries run one at a time.
        self.db = duckdb.connect()
        self.db_lock = threading.Lock()
        self.ready = False
        self.loaded = {}

    def start(self, body):
        sql = body.get("QueryString")
        if not sql:
            raise QueryError("QueryString is required")
        params = body.get("ExecutionParameters") or []
        qid = str(uuid.uuid4())
        now = time.time()
        q = {
            "id": qid,
            "sql": sql,
            "params": params,
            "workgroup": body.get("WorkGroup", "primary"),
            "state": "QUEUED",
            "reason": None,
            "bytes": 0,
            "submitted": now,
            "completed": None,
            "columns": [],
            "engine_ms": 0,
            "rows": [],
        }
        with self.lock:
            self.queries[qid] = q
        threading.Thread(target=self.run, args=(q,), daemon=True).start()
        return qid

    def finish(self, q, state, reason=None):
        with self.lock:
            if q["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return
            q["state"] = state
            q["reason"] = reason
            q["completed"] = time.time()

    def run(self, q):
        with self.lock:
            if q["state"] == "QUEUED":
                q["state"] = "RUNNING"
        began = time.time()
        try:
            columns, rows, scanned = self.execute(bind(q["sql"], q["params"]))
        except QueryError as e:
            self.finish(q, "FAILED", str(e))
            return
        except Exception as e:  # a SQL error of the engine
            self.finish(q, "FAILED", f"{type(e).__name__}: {e}")
            return
        with self.lock:
            q["bytes"] = scanned
            q["engine_ms"] = int((time.time() - began) * 1000)
        if self.cutoff is not None and scanned > self.cutoff:
            self.finish(q, "CANCELLED", "Bytes scanned limit was exceeded")
            return
        # A slow query: it stays RUNNING until the delay has passed (or it is stopped).
        end = q["submitted"] + self.delay
        while time.time() < end:
            with self.lock:
                if q["state"] != "RUNNING":
                    return
            time.sleep(0.02)
        with self.lock:
            q["columns"], q["rows"] = columns, rows
        self.finish(q, "SUCCEEDED")

    def load(self, parts, chosen):
        """Reads the chosen partitions' files into the `loaded` table, each partition once (a
        cache of parsed files, so repeated queries do not parse them again)."""
        con = self.db
        if not self.ready:
            con.execute(
                f"CREATE TABLE loaded AS SELECT {SELECT_COLUMNS}, CAST(NULL AS VARCHAR) AS account, "
                'CAST(NULL AS VARCHAR) AS region, CAST(NULL AS VARCHAR) AS "timestamp", '
                f"CAST(NULL AS VARCHAR) AS folder FROM (SELECT CAST(NULL AS {RECORD_TYPE}) AS r) WHERE false"
            )
            self.ready = True
        # A partition is read again when its files changed (a test wrote more).
        todo = [parts[i] for i in chosen if self.loaded.get(parts[i][3]) != tuple(parts[i][4])]
        for _account, _region, _day, folder, logs, _size in todo:
            if folder in self.loaded:
                con.execute("DELETE FROM loaded WHERE folder = ?", [folder])
        files = [f for part in todo for f in part[4]]
        for start in range(0, len(files), 2000):
            batch = files[start : start + 2000]
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in batch)
            source = (
                f"(SELECT unnest(Records) AS r, filename FROM read_json([{listed}], format = 'auto', "
                f"columns = {{'Records': '{RECORD_TYPE}[]'}}, filename = true))"
            )
            # The partition values come from each file's folder, as partition projection reads them.
            layout = "'AWSLogs/(?:o-[a-z0-9]+/)?([0-9]{12})/CloudTrail/([a-z0-9-]+)/([0-9]{4}/[0-9]{2}/[0-9]{2})/'"
            con.execute(
                f"INSERT INTO loaded SELECT {SELECT_COLUMNS}, "
                f"regexp_extract(filename, {layout}, 1), regexp_extract(filename, {layout}, 2), "
                f"regexp_extract(filename, {layout}, 3), regexp_extract(filename, '^(.*)/[^/]*$', 1) FROM {source}"
            )
        for part in todo:
            self.loaded[part[3]] = tuple(part[4])

    def execute(self, sql):
        tree = sqlglot.parse_one(sql, read="trino")
        found = partition_predicates(tree)
        with self.db_lock:
            con = self.db.cursor()
            parts = partitions(self.root)
            con.execute('CREATE OR REPLACE TEMP TABLE parts (account VARCHAR, region VARCHAR, "timestamp" VARCHAR, i INTEGER)')
            con.executemany(
                "INSERT INTO parts VALUES (?, ?, ?, ?)",
                [(a, r, d, i) for i, (a, r, d, _f, _l, _s) in enumerate(parts)],
            )
            scanned = 0
            for n, (table, preds, times) in enumerate(found):
                cond = " AND ".join(p.sql(dialect="duckdb") for p in preds)
                chosen = [row[0] for row in con.execute(f"SELECT i FROM parts WHERE {cond}").fetchall()]
                self.load(parts, chosen)
                # Each read of the table after inlining is billed: DuckDB may evaluate a CTE
                # once, Athena does not.
                scanned += times * sum(parts[i][5] for i in chosen)
                folders = [parts[i][3] for i in chosen] or [""]
                name = f"scan_{n}"
                con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * EXCLUDE (folder) FROM loaded "
                            "WHERE folder IN (SELECT unnest(?))", [folders])
                table.replace(exp.to_table(name))
            cur = con.execute(tree.sql(dialect="duckdb"))
            columns = [d[0] for d in cur.description]
            rows = [[text(v) for v in row] for row in cur.fetchall()]
            con.close()
        return columns, rows, scanned

    def get(self, qid):
        with self.lock:
            q = self.queries.get(qid)
            if q is None:
                raise QueryError(f"QueryExecution {qid} was not found")
            return dict(q)

    def stop(self, qid):
        self.get(qid)
        with self.lock:
            self.stopped.append(qid)
        q = self.queries[qid]
        self.finish(q, "CANCELLED", "Query cancelled by user")


def execution(q):
    status = {"State": q["state"], "SubmissionDateTime": q["submitted"]}
    if q["reason"]:
        status["StateChangeReason"] = q["reason"]
    if q["completed"]:
        status["CompletionDateTime"] = q["completed"]
    elapsed = int(((q["completed"] or time.time()) - q["submitted"]) * 1000)
    return {
        "QueryExecution": {
            "QueryExecutionId": q["id"],
            "Query": q["sql"],
            "StatementType": "DML",
            "WorkGroup": q["workgroup"],
            "Status": status,
            "Statistics": {
                "DataScannedInBytes": q["bytes"],
                "EngineExecutionTimeInMillis": elapsed,
                "TotalExecutionTimeInMillis": elapsed,
            },
            "ExecutionParameters": q["params"],
        }
    }


def results(q, body):
    if q["state"] != "SUCCEEDED":
        raise QueryError(f"Query has not yet finished. Current state: {q['state']}")
    limit = int(body.get("MaxResults") or 1000)
    if not 1 <= limit <= 1000:
        raise QueryError("MaxResults must be between 1 and 1000")
    offset = int(body.get("NextToken") or 0)
    header = [{"Data": [{"VarCharValue": c} for c in q["columns"]]}]
    table = header + [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in q["rows"]]
    page = table[offset : offset + limit]
    out = {
        "UpdateCount": 0,
        "ResultSet": {
            "Rows": page,
            "ResultSetMetadata": {
                "ColumnInfo": [
                    {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c, "Label": c,
                     "Type": "varchar", "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True}
                    for c in q["columns"]
                ]
            },
        },
    }
    if offset + limit < len(table):
        out["NextToken"] = str(offset + limit)
    return out


def handler_for(engine):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/_stats":
                with engine.lock:
                    payload = {
                        "started": len(engine.queries),
                        "stopped": list(engine.stopped),
                        "queries": [
                            {"id": q["id"], "state": q["state"], "bytes": q["bytes"], "engine_ms": q["engine_ms"],
                             "rows": len(q["rows"]), "sql": q["sql"], "params": q["params"]}
                            for q in engine.queries.values()
                        ],
                    }
                self.reply(200, payload)
            else:
                self.reply(404, {"message": "not found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            target = self.headers.get("X-Amz-Target", "")
            op = target.rsplit(".", 1)[-1]
            if not target.startswith("AmazonAthena."):
                self.reply(400, {"__type": "UnknownOperationException", "Message": target})
                return
            try:
                if op == "StartQueryExecution":
                    self.reply(200, {"QueryExecutionId": engine.start(body)})
                elif op == "GetQueryExecution":
                    self.reply(200, execution(engine.get(body["QueryExecutionId"])))
                elif op == "GetQueryResults":
                    self.reply(200, results(engine.get(body["QueryExecutionId"]), body))
                elif op == "StopQueryExecution":
                    engine.stop(body["QueryExecutionId"])
                    self.reply(200, {})
                elif op == "GetWorkGroup":
                    config = {"EnforceWorkGroupConfiguration": True}
                    if engine.cutoff is not None:
                        config["BytesScannedCutoffPerQuery"] = engine.cutoff
                    self.reply(200, {"WorkGroup": {"Name": body.get("WorkGroup"), "State": "ENABLED",
                                                   "Configuration": config}})
                else:
                    self.reply(400, {"__type": "UnknownOperationException", "Message": op})
            except QueryError as e:
                self.reply(400, {"__type": "InvalidRequestException", "Message": str(e)})

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cutoff-bytes", type=int, default=None)
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()
    engine = Engine(args.root, args.cutoff_bytes, args.delay_ms)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(engine))
    print(f"athena-standin listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
