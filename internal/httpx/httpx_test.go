package httpx_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/httpx"
)

func decode(body io.Reader) error {
	req := httptest.NewRequest(http.MethodPost, "/", body)
	req.Header.Set("Content-Type", "application/json")
	var v struct{ A int }
	return httpx.Decode(httptest.NewRecorder(), req, 1<<10, &v)
}

func TestDecode(t *testing.T) {
	for name, tc := range map[string]struct {
		body    string
		wantErr error
	}{
		"OK":                  {`{"A":1}`, nil},
		"OKTrailingSpace":     {"{\"A\":1}\n ", nil},
		"ErrTrailingBrace":    {`{"A":1}}`, httpx.ErrBadJSON},
		"ErrTrailingBracket":  {`{"A":1}]`, httpx.ErrBadJSON},
		"ErrSecondValue":      {`{"A":1}{"A":2}`, httpx.ErrBadJSON},
		"ErrUnknownField":     {`{"B":1}`, httpx.ErrBadJSON},
		"ErrTruncated":        {`{"A":`, httpx.ErrBadJSON},
		"ErrTooLarge":         {`{"A":1,"pad":"` + strings.Repeat("x", 2<<10) + `"}`, httpx.ErrTooLarge},
		"ErrEmpty":            {``, httpx.ErrBadJSON},
		"ErrTrailingNonsense": {`{"A":1} x`, httpx.ErrBadJSON},
		"ErrWrongType":        {`{"A":"1"}`, httpx.ErrBadJSON},
		"ErrNotAnObjectAtAll": {`nope`, httpx.ErrBadJSON},
	} {
		t.Run(name, func(t *testing.T) {
			err := decode(strings.NewReader(tc.body))
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) {
	return 0, errors.New("read tcp 127.0.0.1:9702->127.0.0.1:51234: i/o timeout")
}

// TestDecode_TransportErrorsStayInternal: a client is told its body could
// not be read, never the socket addresses in the cause.
func TestDecode_TransportErrorsStayInternal(t *testing.T) {
	err := decode(failingReader{})
	require.ErrorIs(t, err, httpx.ErrUnreadable)
	require.NotContains(t, httpx.DecodeDescription(err), "127.0.0.1")
	require.Equal(t, http.StatusBadRequest, httpx.DecodeStatus(err))
}

func TestTruncate(t *testing.T) {
	got, cut := httpx.Truncate("aé", 2) // é is 2 bytes: never split
	require.True(t, cut)
	require.Equal(t, "a", got)
	bad := "\xff" + strings.Repeat("x", 1000)
	got, _ = httpx.Truncate(bad, 10)
	require.Equal(t, bad[:10], got, "invalid bytes do not make it cut everything")
	require.LessOrEqual(t, len(httpx.LogBounded(strings.Repeat("\xff", 1<<20))), httpx.MaxLogValueBytes+32)
}
