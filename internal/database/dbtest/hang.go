package dbtest

import (
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Hangable puts a TCP proxy in front of the PostgreSQL database at dbURL
// and returns the URL through it. hang(true) makes the proxy stop passing
// bytes either way while every connection stays open, as a database
// process stopped by SIGSTOP (or a network that drops everything) looks
// to its clients; hang(false) lets them flow again.
func Hangable(tb testing.TB, dbURL string) (proxied string, hang func(bool)) {
	tb.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(tb, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	p := &hangingProxy{upstream: u.Host, resume: make(chan struct{})}
	close(p.resume)
	var conns sync.WaitGroup
	tb.Cleanup(func() {
		ln.Close()
		p.hang(false)
		p.closeAll()
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { p.serve(c) })
		}
	}()
	u.Host = ln.Addr().String()
	return u.String(), p.hang
}

type hangingProxy struct {
	upstream string
	mu       sync.Mutex
	resume   chan struct{} // closed while bytes flow
	open     []net.Conn
}

func (p *hangingProxy) hang(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.resume:
		if on {
			p.resume = make(chan struct{})
		}
	default:
		if !on {
			close(p.resume)
		}
	}
}

func (p *hangingProxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resume
}

func (p *hangingProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
}

func (p *hangingProxy) serve(client net.Conn) {
	<-p.gate() // a hung server accepts nothing it answers
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	p.open = append(p.open, client, server)
	p.mu.Unlock()
	var both sync.WaitGroup
	both.Go(func() { p.copy(server, client) })
	both.Go(func() { p.copy(client, server) })
	both.Wait()
}

// copy passes bytes from src to dst, holding each read while hung.
func (p *hangingProxy) copy(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or a closed connection
			return
		}
	}
}
