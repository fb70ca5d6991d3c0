package target

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// decodeStrict decodes data into v, refusing unknown fields. Unlike
// encoding/json's own check, its errors say where the field is
// (resource_servers[1].audiance), so a typo in a long target file is found
// at once.
func decodeStrict(data []byte, v any) error {
	var tree any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	if err := checkFields(tree, reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fmt.Errorf("%s: wants a %s, not a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
		}
		return err
	}
	return nil
}

// checkFields walks the decoded JSON beside the Go type it will fill.
func checkFields(node any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n := node.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			for name, child := range n {
				ft, ok := fields[name]
				if !ok {
					return fmt.Errorf("%s: unknown field", join(path, name))
				}
				if err := checkFields(child, ft, join(path, name)); err != nil {
					return err
				}
			}
		case reflect.Map:
			for name, child := range n {
				if err := checkFields(child, t.Elem(), join(path, name)); err != nil {
					return err
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice {
			for i, child := range n {
				if err := checkFields(child, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// jsonFields maps a struct's JSON member names to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
