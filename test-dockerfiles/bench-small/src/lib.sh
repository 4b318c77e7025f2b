#!/bin/sh
# Helpers shared by main.sh and build.sh.
greet() { echo "hello, $1"; }
