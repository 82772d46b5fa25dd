/* smtpwatchctl.c: to be written */
