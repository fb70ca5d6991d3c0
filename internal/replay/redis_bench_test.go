package replay_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkRedisSetNX is the same durable check-and-insert on Redis: SET
// jti NX EX, 64 callers, random ids shaped like Identity's, for the ratio
// in docs/benchmarks.md. It needs a Redis with appendfsync always on
// REDIS_ADDR, which deploy/bench/redis-side-by-side.sh starts on loopback
// (Debian's redis-server) and runs beside the replay store's benchmark.
// The client is the few lines of RESP a SET needs, on a pool of one
// connection per caller.
func BenchmarkRedisSetNX(b *testing.B) {
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		b.Skip("REDIS_ADDR not set: run deploy/bench/redis-side-by-side.sh")
	}
	const callers = 64
	pool := make(chan *redisConn, callers)
	for range callers {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		pool <- &redisConn{c: c, r: bufio.NewReader(c)}
	}
	var once sync.Once
	b.SetParallelism(32) // 64 callers on 2 cores, as the store's benchmark
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := <-pool
			first, err := c.setNX(context.Background(), randomJTI(), time.Hour)
			pool <- c
			if err != nil {
				once.Do(func() { b.Error(err) })
				return
			}
			if !first {
				once.Do(func() { b.Error("a random id was already there") })
			}
		}
	})
}

type redisConn struct {
	c net.Conn
	r *bufio.Reader
}

// setNX is SET key 1 NX EX seconds: true if the key was new.
func (c *redisConn) setNX(_ context.Context, key string, ttl time.Duration) (bool, error) {
	secs := fmt.Sprint(int(ttl / time.Second))
	cmd := fmt.Sprintf("*6\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\n1\r\n$2\r\nNX\r\n$2\r\nEX\r\n$%d\r\n%s\r\n", len(key), key, len(secs), secs)
	if _, err := c.c.Write([]byte(cmd)); err != nil {
		return false, err
	}
	line, err := c.r.ReadString('\n')
	switch {
	case err != nil:
		return false, err
	case strings.HasPrefix(line, "+OK"):
		return true, nil
	case strings.HasPrefix(line, "$-1"):
		return false, nil
	}
	return false, fmt.Errorf("redis: %q", strings.TrimSpace(line))
}
