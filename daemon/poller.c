/* poller.c: to be written */
