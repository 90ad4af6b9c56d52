"""A minimal faust-streaming app for test_faust.py: an agent that consumes N tagged records, then exits.

Run as `python faust_probe_app.py worker -l warn` with PROBE_BOOTSTRAP, PROBE_TOPIC, PROBE_TAG,
PROBE_COUNT and PROBE_DATADIR set; prints "FAUST-PROBE-OK <n>" and exits 0 when the agent saw them all.
"""

import asyncio
import os

import faust
from aiokafka import AIOKafkaProducer

BOOTSTRAP = os.environ["PROBE_BOOTSTRAP"]
TOPIC = os.environ["PROBE_TOPIC"]
TAG = os.environ["PROBE_TAG"].encode()
COUNT = int(os.environ["PROBE_COUNT"])

app = faust.App(
    f"pipewarden-faust-probe-{os.environ['PROBE_TAG']}",
    broker=f"kafka://{BOOTSTRAP}",
    store="memory://",
    web_enabled=False,
    datadir=os.environ["PROBE_DATADIR"],
    key_serializer="raw",
    value_serializer="raw",
    consumer_auto_offset_reset="earliest",
)
topic = app.topic(TOPIC, key_type=bytes, value_type=bytes)
seen: list[bytes] = []
all_seen = asyncio.Event()


@app.agent(topic)
async def probe(stream):
    async for value in stream:
        if value.startswith(TAG):
            seen.append(value)
            if len(seen) >= COUNT:
                all_seen.set()


@app.task
async def produce_then_finish() -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(COUNT):
            await producer.send_and_wait(TOPIC, key=b"SEG-1", value=TAG + b"-%d" % i)
    finally:
        await producer.stop()
    await asyncio.wait_for(all_seen.wait(), 60)
    print(f"FAUST-PROBE-OK {len(seen)}", flush=True)
    os._exit(0)  # faust's worker shutdown is slow and noisy; the result is already printed


if __name__ == "__main__":
    app.main()
