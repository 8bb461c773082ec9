//go:build !unix

package tradecsv

import "time"

// processCPU is unavailable here; benchmarks then report no cpu-ns/row.
func processCPU() time.Duration { return 0 }
