package policy

import (
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/open-policy-agent/opa/v1/tester"
)

// RunTests compiles the policy files in fsys and runs their tests, printing
// the results to w as `opa test` does (every test when verbose, otherwise
// only failures and a summary). It returns the number of tests that passed
// and failed; err is set when the policy cannot be read, compiled or tested.
func RunTests(ctx context.Context, fsys fs.FS, w io.Writer, verbose bool) (passed, failed int, err error) {
	src, err := readSource(fsys)
	if err != nil {
		return 0, 0, err
	}
	c, err := compileSource(ctx, src)
	if err != nil {
		return 0, 0, fmt.Errorf("policy: %w", err)
	}
	results, err := runTests(ctx, c.all, c.store)
	if err != nil {
		return 0, 0, fmt.Errorf("policy: %w", err)
	}
	for _, r := range results {
		switch {
		case r.Skip:
		case r.Pass():
			passed++
		default:
			failed++
		}
	}
	ch := make(chan *tester.Result, len(results))
	for _, r := range results {
		ch <- r
	}
	close(ch)
	rep := tester.PrettyReporter{Output: w, Verbose: verbose, FailureLine: true}
	if err := rep.Report(ch); err != nil {
		return passed, failed, fmt.Errorf("policy: report test results: %w", err)
	}
	return passed, failed, nil
}
