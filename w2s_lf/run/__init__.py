"""`w2s-lf run`: a recipe file (`recipe`) becomes a list of stages (`plan`), executed in a run
folder whose manifest records what each stage read and wrote (`manifest`), so reruns skip what
is done and resume what was interrupted (`execute`); `sizes` estimates each stage's disk use."""
