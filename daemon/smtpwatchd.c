/* smtpwatchd.c: to be written */
