#!/usr/bin/env bash
# The replay store's durable check beside Redis's in the same run: Debian's
# redis-server on loopback with appendfsync always (every write fsynced
# before its answer, as the store's are), 64 callers, random 22-character
# ids; the runs interleave, six of each (docs/benchmarks.md).
#   apt-get install redis-server   # once
#   deploy/bench/redis-side-by-side.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v redis-server >/dev/null || { echo "needs redis-server (apt-get install redis-server)" >&2; exit 2; }
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes --appendfsync always --save '' \
  --daemonize no --logfile "$dir/redis.log" &
redis=$!
trap 'kill $redis 2>/dev/null; wait $redis 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
go test -c -o "$dir/replay.test" ./internal/replay/
for _ in 1 2 3 4 5 6; do
  REDIS_ADDR=127.0.0.1:$port "$dir/replay.test" -test.run '^$' -test.benchtime 2s \
    -test.bench 'RedisSetNX|Store_Use/SQLiteParallel/Random' | grep -E '^Benchmark'
done
