package spec_test

import "fmt"

func fmtV(v any) string { return fmt.Sprint(v) }
