# placeholder: circuit breaker (in progress)
