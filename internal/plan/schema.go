package plan

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// JSONSchema returns the JSON Schema (draft 2020-12) of the scenario format,
// generated from the Go types and their schema tags (the same tags Parse
// enforces); docs/scenario.schema.json is this output. References between
// fields and contradictions are checked by Parse only.
func JSONSchema() []byte {
	root := schemaOf(reflect.TypeOf(Scenario{}))
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/digital-embassy/embassy/docs/scenario.schema.json"
	root["title"] = "Digital Embassy sovereignty scenario, " + Format
	b, _ := json.MarshalIndent(root, "", "  ")
	return append(b, '\n')
}

var labelPattern = "^(public|internal|restricted|secret|[Cc][0-3]-[Ii][0-3]-[Aa][0-3])$"

func schemaOf(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		var req []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" || name == "-" {
				continue
			}
			o := tagOpts(f.Tag.Get("schema"))
			s := schemaOf(f.Type)
			applyOpts(s, o)
			if d := f.Tag.Get("doc"); d != "" {
				s["description"] = d
			}
			if _, ok := o["required"]; ok {
				req = append(req, name)
			}
			props[name] = s
		}
		m := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
		if len(req) > 0 {
			m["required"] = req
		}
		return m
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Uint64:
		m := map[string]any{"type": "integer"}
		if t.Kind() == reflect.Uint64 {
			m["minimum"] = 0
		}
		return m
	case reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

func applyOpts(s map[string]any, o map[string]string) {
	for k, v := range o {
		switch k {
		case "const":
			s["const"] = v
		case "enum":
			s["enum"] = strings.Split(v, "|")
		case "pattern":
			s["pattern"] = v
		case "cc":
			s["pattern"] = ccRE().String()
		case "name":
			s["pattern"] = nameRE().String()
		case "latlon":
			s["pattern"] = `^-?[0-9]+(\.[0-9]+)?, ?-?[0-9]+(\.[0-9]+)?$`
		case "label":
			s["pattern"] = labelPattern
		case "scheme":
			s["pattern"] = schemeRE().String()
		case "metric":
			s["enum"] = Metrics()
		case "min", "max":
			x, _ := strconv.ParseFloat(v, 64)
			key := "minimum"
			if k == "max" {
				key = "maximum"
			}
			s[key] = x
		case "minItems":
			n, _ := strconv.Atoi(v)
			s["minItems"] = n
		case "items":
			if items, ok := s["items"].(map[string]any); ok {
				applyOpts(items, map[string]string{v: ""})
			}
		}
	}
	if s["type"] == "string" {
		if _, req := o["required"]; req {
			if _, has := s["const"]; !has {
				if _, has := s["enum"]; !has {
					s["minLength"] = 1
				}
			}
		}
	}
}

// FieldReference renders every field of the format as Markdown table rows
// (path, type, constraints, meaning); docs/SCENARIO.md embeds it.
func FieldReference() string {
	var b strings.Builder
	b.WriteString("| field | type | constraints | meaning |\n|---|---|---|---|\n")
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" || name == "-" {
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			path := prefix + name
			typ := ft.Kind().String()
			elem := ft
			if ft.Kind() == reflect.Slice {
				elem = ft.Elem()
				typ = "list of " + elem.Kind().String()
				path += "[]"
			}
			switch typ {
			case "float64", "list of float64":
				typ = strings.Replace(typ, "float64", "number", 1)
			case "int", "uint64":
				typ = "integer"
			case "struct", "list of struct":
				typ = strings.Replace(typ, "struct", "mapping", 1)
			}
			cons := strings.ReplaceAll(f.Tag.Get("schema"), "|", "/")
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", path, typ, cons, strings.ReplaceAll(f.Tag.Get("doc"), "|", "/"))
			if elem.Kind() == reflect.Struct {
				walk(elem, path+".")
			}
		}
	}
	walk(reflect.TypeOf(Scenario{}), "")
	return b.String()
}
