package runner

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Env reads configuration from the environment with a fallback.
type Env func(key, fallback string) string

// EnvFrom adapts getenv.
func EnvFrom(getenv func(string) string) Env {
	return func(key, fallback string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return fallback
	}
}

// DurationFlag registers a duration flag whose default comes from env. A
// malformed environment value is a start-up error (see CheckFlags) unless
// the flag overrides it: a typo must not silently become the default.
func DurationFlag(fs *flag.FlagSet, env Env, p *time.Duration, name, key string, fallback time.Duration, usage string) {
	*p = fallback
	v := &durationValue{p: p}
	if raw := env(key, ""); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil {
			v.err = fmt.Errorf("%s=%q: %w", key, raw, err)
		} else {
			*p = d
		}
	}
	fs.Var(v, name, usage+" (env "+key+")")
}

// durationValue is a flag.Value that remembers a bad environment value.
type durationValue struct {
	p   *time.Duration
	err error
}

func (d *durationValue) String() string {
	if d.p == nil {
		return ""
	}
	return d.p.String()
}

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d.p, d.err = v, nil
	return nil
}

// CheckFlags reports configuration the environment got wrong, after Parse.
func CheckFlags(fs *flag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if d, ok := f.Value.(*durationValue); ok && d.err != nil {
			errs = append(errs, d.err)
		}
	})
	return errors.Join(errs...)
}

// StringFlag registers a string flag whose default comes from env.
func StringFlag(fs *flag.FlagSet, env Env, p *string, name, key, fallback, usage string) {
	fs.StringVar(p, name, env(key, fallback), usage+" (env "+key+")")
}

// secretValue is a string flag that never prints its value.
type secretValue struct{ p *string }

func (v secretValue) String() string     { return "" }
func (v secretValue) Set(s string) error { *v.p = s; return nil }
