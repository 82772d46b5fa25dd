/* smtpwatch-sim.c: to be written */
