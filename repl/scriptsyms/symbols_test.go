package scriptsyms

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestExportsCurrent checks that every exported, non-generic top-level
// name of the script packages is in the generated tables (run "go generate
// ./repl/scriptsyms" when it fails).
func TestExportsCurrent(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range Packages {
		dir := filepath.Join(root, strings.TrimPrefix(strings.TrimPrefix(pkg, "github.com/kwalk/kwalk"), "/"))
		names, err := exportedNames(dir)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		table, ok := Symbols[pkg+"/"+path.Base(pkg)]
		if !ok {
			t.Errorf("%s: no generated table", pkg)
			continue
		}
		var missing []string
		for _, n := range names {
			if _, ok := table[n]; !ok {
				missing = append(missing, n)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s: exports %v are not in the script tables; run: go generate ./repl/scriptsyms", pkg, missing)
		}
	}
}

func exportedNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	fset := token.NewFileSet()
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() && d.Type.TypeParams == nil {
					out = append(out, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() && s.TypeParams == nil {
							out = append(out, s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, id := range s.Names {
							if id.IsExported() {
								out = append(out, id.Name)
							}
						}
					}
				}
			}
		}
	}
	return out, nil
}
