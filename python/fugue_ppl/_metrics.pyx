# placeholder: latency histogram and production metrics (in progress)
