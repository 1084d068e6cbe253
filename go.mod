module github.com/tether-rt/tether

go 1.26
