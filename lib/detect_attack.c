/* detect_attack.c: to be written */
