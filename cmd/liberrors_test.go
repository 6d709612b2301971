package cmd

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// flagWord matches a command-line flag (--max-new-tokens) in a text.
var flagWord = regexp.MustCompile(`(^|[^\w-])--[a-zA-Z]`)

// libraryFlagWords returns "file:line: text" for every string of the Go
// files below root outside cmd (the library packages) that names a
// command-line flag in an error: a string in the arguments of fmt.Errorf,
// errors.New or option.Errorf, or a flag name alone ("--model", a value
// handed to an error). Advice naming another command ("train one with
// rlhf rm --x") may name its flags: those after "rlhf " are not counted.
func libraryFlagWords(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch name := d.Name(); {
			case path != root && (name == "cmd" || name == "testdata" || strings.HasPrefix(name, ".") || name == "bin"):
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		report := func(lit *ast.BasicLit) {
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return
			}
			if i := strings.Index(s, "rlhf "); i >= 0 {
				s = s[:i] // advice about another command
			}
			if flagWord.MatchString(s) {
				rel, _ := filepath.Rel(root, fset.Position(lit.Pos()).Filename)
				found = append(found, rel+":"+strconv.Itoa(fset.Position(lit.Pos()).Line)+": "+lit.Value)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if isErrorCall(call) {
				ast.Inspect(call, func(n ast.Node) bool {
					if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						report(lit)
					}
					return true
				})
				return false
			}
			// A flag name handed to a function (the error it makes names it).
			for _, a := range call.Args {
				if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING && bareFlag.MatchString(lit.Value) && !isExec(call) {
					report(lit)
				}
			}
			return true
		})
		// Flag names kept in variables and composite literals.
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.AssignStmt:
				for _, r := range n.Rhs {
					if lit, ok := r.(*ast.BasicLit); ok && lit.Kind == token.STRING && bareFlag.MatchString(lit.Value) {
						report(lit)
					}
				}
			case *ast.CompositeLit:
				for _, e := range n.Elts {
					if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING && bareFlag.MatchString(lit.Value) {
						report(lit)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// bareFlag matches a string literal that is one flag name: "--model".
var bareFlag = regexp.MustCompile(`^"--[a-z][a-z0-9-]*"$`)

func isErrorCall(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	if !ok {
		return false
	}
	switch pkg.Name + "." + sel.Sel.Name {
	case "fmt.Errorf", "errors.New", "option.Errorf":
		return true
	}
	return false
}

// isExec reports whether call starts a program (whose flags it names).
func isExec(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "exec"
}

// TestLibraryErrorsNameNoFlags holds issue 13's "no CLI words in library
// errors": the packages below cmd name the options they refuse by field
// ({MaxNewTokens}, package option) and the command adds the flag name.
func TestLibraryErrorsNameNoFlags(t *testing.T) {
	// Flag names in what libraries print, not in their errors.
	allowed := map[string]string{
		`pipeline/pipeline.go: "--force"`:      "why a step runs, in the plan rlhf pipeline prints",
		`plan/suggest.go: "--grad-checkpoint"`: "rlhf plan's suggestions are command-line changes to type",
	}
	for _, f := range libraryFlagWords(t, "..") {
		file, rest, _ := strings.Cut(f, ":")
		_, text, _ := strings.Cut(rest, ": ")
		if _, ok := allowed[file+": "+text]; ok {
			continue
		}
		t.Errorf("%s: a library error names a command-line flag; name the option field with option.Errorf (\"{Field}\") instead", f)
	}
}

// TestLibraryFlagWordsFindsFlags checks the scan itself on a file with
// each kind of flag word it must find, and advice it must leave.
func TestLibraryFlagWordsFindsFlags(t *testing.T) {
	dir := t.TempDir()
	src := `package lib

import ("errors"; "fmt")

func load(flag, dir string) error { return fmt.Errorf("%s %s", flag, dir) }

func f(n int) error {
	if n == 0 {
		return errors.New("--out is required")
	}
	if n == 1 {
		return fmt.Errorf("want at least 1: " +
			"see --max-new-tokens %d", n)
	}
	if n == 2 {
		return load("--model", "x")
	}
	name := "--reward"
	_ = []string{"--critic"}
	_ = name
	return fmt.Errorf("no score head; train one with rlhf rm --data D")
}
`
	if err := writeFile(filepath.Join(dir, "lib", "lib.go"), src); err != nil {
		t.Fatal(err)
	}
	got := libraryFlagWords(t, dir)
	for _, want := range []string{`"--out is required"`, `"see --max-new-tokens %d"`, `"--model"`, `"--reward"`, `"--critic"`} {
		if !containsSuffix(got, want) {
			t.Errorf("the scan missed %s; found %q", want, got)
		}
	}
	if len(got) != 5 {
		t.Errorf("found %d flag words, want 5 (advice after rlhf is allowed): %q", len(got), got)
	}
}

func containsSuffix(list []string, suffix string) bool {
	for _, s := range list {
		if strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return false
}

func writeFile(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(text), 0o644)
}
