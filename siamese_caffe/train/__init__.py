"""Stage 3, training: job folders (jobs, jobfiles), the user's choices (settings), making a
job (jobsetup), the training loop (training) and the child process it runs in
(trainer_process), train_log.csv (trainlog) and loss.png (lossplot)."""
