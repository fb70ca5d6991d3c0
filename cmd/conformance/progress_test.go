package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStatusLine_RewritesOneLine(t *testing.T) {
	var out strings.Builder
	s := &statusLine{w: &out}
	_, _ = s.Write([]byte("logging: 3/140 AUD-01 aud missing\n"))
	_, _ = s.Write([]byte(strings.Repeat("x", 300) + "\n"))
	s.Clear()
	require.Equal(t, "\r\x1b[Klogging: 3/140 AUD-01 aud missing\r\x1b[K"+strings.Repeat("x", progressWidth-1)+"…\r\x1b[K", out.String())
}
