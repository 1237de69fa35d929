package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// Reload results, the values of the result label of the reload counter.
const (
	resultSuccess      = "success"
	resultCompileError = "compile_error"
	resultTestFailure  = "test_failure"
)

// testTimeout bounds one policy test.
const testTimeout = 10 * time.Second

// allowRef is the rule every policy version must define.
var allowRef = ast.MustParseRef("data.gatewayd.authz.allow")

// resultNames are the rules of data.gatewayd.authz that make up a decision.
var resultNames = []string{"allow", "reason", "obligations", "valid_until_ns"}

// decisionQuery builds the query that reads a decision in one evaluation.
// A result with a default rule is always defined and is read directly; one
// without is collected into an array so that its absence does not make the
// whole query undefined; one with no rules at all is left out.
// collected names the results read through a comprehension.
func decisionQuery(c *ast.Compiler) (body ast.Body, collected map[string]bool) {
	collected = map[string]bool{}
	for _, name := range resultNames {
		ref := ast.MustParseRef("data.gatewayd.authz." + name)
		rules := c.GetRulesExact(ref)
		if len(rules) == 0 {
			continue
		}
		hasDefault := false
		for _, r := range rules {
			hasDefault = hasDefault || r.Default
		}
		var value *ast.Term
		if hasDefault {
			value = ast.NewTerm(ref)
		} else {
			x := ast.VarTerm("x")
			value = ast.ArrayComprehensionTerm(x, ast.NewBody(ast.Assign.Expr(x, ast.NewTerm(ref))))
			collected[name] = true
		}
		body = append(body, ast.Assign.Expr(ast.VarTerm(name), value))
	}
	for i, e := range body {
		e.Index = i
	}
	return body, collected
}

// version is one accepted and prepared policy version.
type version struct {
	revision string
	query    rego.PreparedEvalQuery
	// collected names the results the query reads through a comprehension.
	collected map[string]bool
	deps      deps
	// sel is the part of the input document the policy can read.
	sel      *selection
	loadedAt time.Time
	tests    int
	// sponsor is the prepared sponsorship decision (nil if the policy has
	// none) and sponsorCache its recent answers.
	sponsor      *rego.PreparedEvalQuery
	sponsorCache sponsorCache
}

// loadError is why a policy version was rejected.
type loadError struct {
	// result is resultCompileError or resultTestFailure.
	result string
	// failures names each failing test with its error, for test failures.
	failures []string
	err      error
}

func (e *loadError) Error() string {
	if len(e.failures) > 0 {
		return fmt.Sprintf("%v: %s", e.err, strings.Join(e.failures, "; "))
	}
	return e.err.Error()
}

func (e *loadError) Unwrap() error { return e.err }

// compiled is a parsed and compiled policy version, before its tests run.
type compiled struct {
	all      map[string]*ast.Module // every module, tests included
	compiler *ast.Compiler          // the non-test modules only
	store    storage.Store
}

// compileSource parses the files, builds the data store and compiles the
// non-test modules.
func compileSource(ctx context.Context, src *source) (*compiled, error) {
	c := &compiled{all: make(map[string]*ast.Module, len(src.rego))}
	prod := make(map[string]*ast.Module, len(src.rego))
	popts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	for name, text := range src.rego {
		m, err := ast.ParseModuleWithOpts(name, string(text), popts)
		if err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		c.all[name] = m
		if !isTestFile(name) {
			prod[name] = m
		}
	}
	data, err := src.dataDocument()
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	c.store = inmem.NewFromObjectWithOpts(data,
		inmem.OptRoundTripOnWrite(true),
		inmem.OptReturnASTValuesOnRead(true))

	c.compiler = ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if c.compiler.Compile(prod); c.compiler.Failed() {
		return nil, fmt.Errorf("compile: %w", c.compiler.Errors)
	}
	if len(c.compiler.GetRulesExact(allowRef)) == 0 {
		return nil, fmt.Errorf("compile: policy does not define %v", allowRef)
	}
	_ = ctx
	return c, nil
}

// runTests runs the tests in modules and returns their results, sorted by
// package and name.
func runTests(ctx context.Context, modules map[string]*ast.Module, store storage.Store) ([]*tester.Result, error) {
	ch, err := tester.NewRunner().
		SetStore(store).
		SetModules(modules).
		SetDefaultRegoVersion(ast.RegoV1).
		CapturePrintOutput(true).
		SetTimeout(testTimeout).
		RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("run tests: %w", err)
	}
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	sort.Slice(results, func(i, j int) bool {
		if results[i].Package != results[j].Package {
			return results[i].Package < results[j].Package
		}
		return results[i].Name < results[j].Name
	})
	return results, nil
}

// failed reports whether a test result counts as a failure.
func failed(r *tester.Result) bool {
	return !r.Skip && (r.Fail || r.Error != nil)
}

// describeFailure is one line naming a failed test and why it failed.
func describeFailure(r *tester.Result) string {
	s := r.Package + "." + r.Name
	switch {
	case r.Error != nil:
		s += ": error: " + r.Error.Error()
	case r.FailedAt != nil:
		s += ": failed at " + r.FailedAt.String()
		if r.FailedAt.Location != nil {
			s += " (" + r.FailedAt.Location.String() + ")"
		}
	default:
		s += ": failed"
	}
	return s
}

// buildVersion compiles src, runs its tests and prepares the decision query.
// The returned error is a *loadError.
func buildVersion(ctx context.Context, src *source) (*version, error) {
	c, err := compileSource(ctx, src)
	if err != nil {
		return nil, &loadError{result: resultCompileError, err: err}
	}

	results, err := runTests(ctx, c.all, c.store)
	if err != nil {
		return nil, &loadError{result: resultCompileError, err: err}
	}
	var failures []string
	for _, r := range results {
		if failed(r) {
			failures = append(failures, describeFailure(r))
		}
	}
	if len(failures) > 0 {
		return nil, &loadError{
			result:   resultTestFailure,
			failures: failures,
			err:      fmt.Errorf("%d of %d policy tests failed", len(failures), len(results)),
		}
	}

	d := analyseDeps(c.compiler)

	query, collected := decisionQuery(c.compiler)
	pq, err := rego.New(
		rego.Compiler(c.compiler),
		rego.Store(c.store),
		rego.ParsedQuery(query),
		rego.GenerateJSON(rawTerm),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, &loadError{result: resultCompileError, err: fmt.Errorf("prepare: %w", err)}
	}
	sponsor, err := prepareSponsor(ctx, c)
	if err != nil {
		return nil, &loadError{result: resultCompileError, err: err}
	}
	return &version{
		sponsor:   sponsor,
		revision:  src.revision,
		query:     pq,
		collected: collected,
		deps:      d,
		sel:       newSelection(&d),
		loadedAt:  time.Now(),
		tests:     len(results),
	}, nil
}

// rawTerm hands evaluation results back as *ast.Term, skipping the
// conversion to Go values.
func rawTerm(t *ast.Term, _ *rego.EvalContext) (any, error) {
	return t, nil
}

// errNoDecision is returned when the decision query has no result.
var errNoDecision = errors.New("policy: decision query returned no result")
