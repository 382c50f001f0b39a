# set remote multiprocess-feature-packet off

target extended-remote :9001
