package portfolio_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocComments fails when the package or an exported name lacks a doc
// comment: the contract lives there.
func TestDocComments(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	{
		hasPkgDoc := false
		for name, f := range files {
			if f.Doc != nil {
				hasPkgDoc = true
			}
			for _, decl := range f.Decls {
				switch decl := decl.(type) {
				case *ast.FuncDecl:
					if decl.Name.IsExported() && decl.Doc == nil {
						t.Errorf("%s: func %s has no doc comment", name, decl.Name.Name)
					}
				case *ast.GenDecl:
					for _, spec := range decl.Specs {
						switch spec := spec.(type) {
						case *ast.TypeSpec:
							if spec.Name.IsExported() && decl.Doc == nil && spec.Doc == nil {
								t.Errorf("%s: type %s has no doc comment", name, spec.Name.Name)
							}
						case *ast.ValueSpec:
							for _, n := range spec.Names {
								if n.IsExported() && decl.Doc == nil && spec.Doc == nil {
									t.Errorf("%s: %s has no doc comment", name, n.Name)
								}
							}
						}
					}
				}
			}
		}
		if !hasPkgDoc {
			t.Errorf("package portfolio has no doc comment")
		}
	}
}
