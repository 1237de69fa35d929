//go:build race

package main

// raceEnabled: under the race detector the in-process ENSIP-15 pass over
// the vectors is left out (see TestNormalisationVectors).
const raceEnabled = true
