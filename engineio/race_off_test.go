//go:build !race

package engineio_test

const raceEnabled = false
