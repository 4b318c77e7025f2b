#!/bin/sh
echo "bench-small $(cat /app/data/version) running in $APP_ENV"
cat /app/data/build.txt
