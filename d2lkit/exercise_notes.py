"""What the answers to the books' exercises show: two or three sentences per answer, by ID.

Each note was written from the numbers of its run (the table above it in docs/exercises.md,
mean ± std over seeds 0, 1, 2); a rerun on a similar machine gives the same numbers within noise.
Where two editions ask the same question, the note sits under the first ID of the heading.
"""

NOTES: dict[str, str] = {
    '0.17/linear-regression-scratch.1': (
        'All three starts end at the same loss, about 4.9e-5: half the noise variance '
        '(0.01² / 2), the floor no fit can beat. Zero weights are fine for linear regression: the '
        'gradient of each weight depends on the data, not on the other weights, so there is no '
        'symmetry to break. Even a start with variance 1000 (weights around ±30) converges within '
        'the three epochs, only with w a little further off (0.0029 ± 0.0019 against 0.0006): a '
        'convex quadratic loss forgets its starting point geometrically fast.'),
    '0.17/linear-regression-scratch.6': (
        'For small learning rates what counts is the product of learning rate and epochs: lr 0.003 '
        'for 10 epochs and lr 0.01 for 3 epochs (both 0.03) end at the same loss, 0.036. From '
        'lr 0.03 on, three epochs reach the noise floor (about 5e-5); at lr 0.1 the error in w '
        'grows again slightly (0.0008-0.0009 against 0.0005), the larger steps jittering around '
        'the minimum.'),
    '0.17/linear-regression-concise.1': (
        'With reduction sum the gradient is batch-size (10) times that of the mean, so sum at '
        'lr 0.003 gives exactly the numbers of mean at lr 0.03, and sum at 0.03 those of mean at '
        '0.3: the matching learning rate is the mean\'s divided by the batch size. Sum at lr 0.3 '
        '(the mean\'s lr 3) diverged for every seed, a row of the table too.'),
    '0.17/linear-regression-concise.2': (
        'The train_loss column is each run\'s own loss, so it does not compare across rows (the '
        'best mark only says the squared loss has the smallest numbers); the errors in w and b do. '
        'After the book\'s 3 epochs the squared loss recovers w to 0.0006, the absolute loss to '
        '0.010 and Huber\'s to 0.036. Huber\'s loss caps each example\'s gradient at 1, so while '
        'the residuals are large it creeps like the absolute loss and has not yet closed the gap; '
        'the absolute loss keeps steps of one size and ends jittering around the fit. With '
        'Gaussian noise and no outliers the squared loss, the maximum-likelihood choice, is best.'),
    '0.17/softmax-regression-concise.1': (
        'On the validation split the best pair is lr 0.03 with batch 64 (0.8405 ± 0.0018), close '
        'to the book\'s lr 0.1 with batch 256 (0.8350 ± 0.0044). At a fixed 10 epochs a larger '
        'batch takes fewer steps and wants a larger learning rate (lr 0.03 with batch 1024: '
        '0.790), while lr 0.3 is unsteady at every batch size: its seeds disagree by 2 to 4 '
        'points. Batch 64 costs about twice the time of batch 256.'),
    '0.17/softmax-regression-concise.2': (
        'After 50 epochs the test accuracy is 0.8404 ± 0.0030, higher than the 0.831 after the '
        'default 10 (the lr 0.1 row of 1.0/softmax-regression-concise.4), and it does not fall: '
        'the training loss still creeps down (0.394) and the '
        'test accuracy levels off near 0.84, jumping by about ±0.01 from epoch to epoch at the '
        'constant lr 0.1. A linear model of 7,850 parameters on 60,000 images has too little '
        'capacity to overfit much (train accuracy 0.8645 against 0.840 on test).'),
    '0.17/mlp-scratch.1': (
        'Validation accuracy rises from 16 hidden units (0.818 ± 0.017) to 64 (0.843 ± 0.007) '
        'and then stays flat within the noise: 128 is best here (0.849 ± 0.005), but 512 and 1024 '
        "(0.845, 0.847) cannot be told apart from it with three seeds, and 256's dip (0.831 "
        '± 0.023) is one unlucky last epoch, not a real valley. The training loss falls steadily '
        'with width (0.441 to 0.386) while the time grows about linearly with it, so 128 to 256 '
        'units is the sensible choice for 10 epochs of plain SGD.'),
    '0.17/mlp-scratch.2': (
        'A second hidden layer buys nothing in the book\'s 10 epochs: 784-256-128-10 reaches '
        '0.832 ± 0.005 on validation and 784-256-256-10 0.818 ± 0.020, against 0.831 ± 0.023 '
        "for one layer of 256, all within each other's noise. The deeper nets even end with a "
        'higher training loss (0.42 against 0.40): from the small N(0, 0.01²) start the signal '
        'shrinks through every layer, so a deeper net needs more epochs (or a larger '
        'initialisation) before its extra layer pays.'),
    '0.17/mlp-scratch.3': (
        'lr 0.01 is too slow for 10 epochs (0.762), 0.03 gets to 0.815 and 0.1 and 0.3 to about '
        '0.83-0.84; 0.3 has the best mean (0.843) and the lowest training loss (0.325) but also '
        'the widest spread over seeds (± 0.031): the last epoch lands wherever the large steps '
        'put it. At lr 1 training breaks down without a NaN: the loss stays at 2.17 and '
        'accuracy near chance (0.24 ± 0.12), the ReLU units having been knocked dead early.'),
    '0.17/mlp-scratch.4': (
        'Ten trials of Optuna\'s sampler over learning rate, width and epochs, with successive '
        'halving pruning six of them after their first epochs, found lr 0.078, 55 hidden units '
        'and 9 epochs (0.824 ± 0.023 on validation; 0.808 on the test set in the one final '
        'run). That is no better than the book\'s own setting (lr 0.1, 256 units, 10 epochs: '
        '0.831 on validation above): ten trials are few for three hyperparameters, and pruning '
        'on the first epochs favours fast starters over good finishers. Joint tuning is hard '
        'because the best learning rate depends on the width and the epochs.'),
    '0.17/mlp-concise.1': (
        'Depth and learning rate interact: at lr 0.1 every added layer lowers the validation '
        'accuracy (one layer 0.831, two 0.817, three 0.790), while at lr 0.3 two layers of 256 '
        'are best (0.850 ± 0.018) and three are still behind (0.826). From the small N(0, 0.01²) '
        'start a deeper net begins with tiny signals and needs larger steps or more epochs. The '
        'spreads (± 0.02 to 0.03) are as large as most of the gaps: only "three layers at lr 0.1 '
        'is worse" stands out clearly.'),
    '0.17/mlp-concise.2': (
        'ReLU (0.831 ± 0.023) and tanh (0.826 ± 0.020) end level on validation; sigmoid trails '
        '(0.807 ± 0.004) and has the highest training loss (0.525 against 0.396): its slope is at '
        'most 1/4, so from small weights it learns slowest in 10 epochs. It is also the steadiest '
        'from seed to seed, its small steps never overshooting.'),
    '0.17/mlp-concise.3': (
        'Xavier\'s initialisation is best (0.843 ± 0.027 on validation, training loss 0.363) and '
        'the book\'s N(0, 0.01²) close behind (0.831 ± 0.023). N(0, 1) starts with activations '
        'far too large and ends at 0.765. All-zero weights never learn: every hidden unit '
        'computes the same thing and gets the same gradient, so the loss stays at log 10 = 2.303 '
        'and accuracy at chance (0.098); a constant 0.01 keeps the units identical too and gets '
        'only as far as one unit would (0.296).'),
    '0.17/underfit-overfit.2': (
        'Every run takes the same 4,000 SGD steps (`--steps 4000`, the book\'s 400 epochs of '
        '100 examples; at 10 examples that is 4,000 epochs of one full batch), so the data sizes '
        'differ in data, not in training. Which degree brings the training loss to 0? With n '
        'examples a polynomial of degree n − 1 can pass through all of them, but within these '
        'steps none gets near 0. At 10 examples '
        'degree 9 ends at {train_loss@degree=9,num_train=10} and degree 19 at '
        '{train_loss@degree=19,num_train=10}, no lower than degree 5 '
        '({train_loss@degree=5,num_train=10}); at 20 examples degree 19 ends at '
        '{train_loss@degree=19,num_train=20}: all of them above the noise\'s variance, 0.01, the '
        'loss of the true curve. Even the true degree 3 is still above it at 10 examples '
        '({train_loss@degree=3,num_train=10}): gradient descent converges slowly along the '
        'directions in which so few points barely vary, and the higher features, scaled by '
        '1/i!, are smaller still, so their weights barely move from the start. So what '
        'separates 10 examples from 50 or 100 is not a fit of the noise: it is that 10 points '
        'pin down the cubic poorly, and the test loss shows it for every degree from 3 up (degree '
        '3 at 10 examples {test_loss@degree=3,num_train=10}, {worse@degree=3,num_train=10}; '
        'degree 19 {test_loss@degree=19,num_train=10}, {worse@degree=19,num_train=10}). Degree 1 '
        'underfits at every size: its training loss grows with the data '
        '({train_loss@degree=1,num_train=10} at 10 examples, {train_loss@degree=1,num_train=100} '
        'at 100), a line following a few points better than many. The lowest mean test loss is '
        'degree 3 at 50 examples ({test_loss@degree=3,num_train=50}); with 3 seeds, each drawing '
        'its own data set, degree 3 at 100 is {tied@degree=3,num_train=100} and degree 19 at '
        '100 {tied@degree=19,num_train=100}.'),
    '0.17/weight-decay.1': (
        'λ is chosen on a validation set, `--valid 1000`: 1,000 more examples drawn as the 20 '
        'training ones are, so the test set is read only for the λ chosen. Examples cost nothing '
        'here, and a validation loss is a mean whose noise shrinks as one over the square root '
        'of the number of examples: near the best λ the losses to tell apart differ by a small '
        'fraction of themselves, which 100 examples (the test set\'s size) would leave in the '
        'noise. Without decay the 20 examples are fitted almost exactly (training loss '
        '{train_loss@weight_decay=0}) and the validation loss is {valid_loss@weight_decay=0}. '
        'As λ grows the training loss rises and the validation loss falls: every λ up to 3 is '
        'worse than the best (λ = 1 {worse@weight_decay=1}, λ = 3 {worse@weight_decay=3}). The '
        'lowest mean is at λ = 100 ({valid_loss@weight_decay=100}, test loss '
        '{test_loss@weight_decay=100}), but λ = 10 is {tied@weight_decay=10}, λ = 30 '
        '{tied@weight_decay=30} and λ = 300 {tied@weight_decay=300}: over 10 seeds these four '
        'cannot be told apart. λ = 1000 diverged in all {diverged@weight_decay=1000} runs (lr·λ '
        '= 3: each step multiplies w by 1 − lr·λ = −2), so the grid ends past the tied values, '
        'not at the best one. The validation and test losses agree at every λ: both are fresh '
        'draws of the same distribution.'),
    '0.17/weight-decay.2': (
        'Chosen on 1,000 validation examples (`--valid 1000`) over 10 seeds, λ = 100 has the '
        'lowest mean validation loss ({valid_loss@weight_decay=100}; its test loss '
        '{test_loss@weight_decay=100}), λ = 10 is {tied@weight_decay=10}, λ = 30 '
        '{tied@weight_decay=30} and λ = 300 {tied@weight_decay=300}, and λ = 3 is '
        '{worse@weight_decay=3}; λ = 1000 diverges ({diverged@weight_decay=1000} runs of 10). '
        'So the choice is stable in what matters, the error: any λ from 10 to 300 gives the '
        'same, and which of them is optimal cannot be told apart at 10 seeds. The reason is in '
        'the data: the validation loss these λ reach sits next to (200 · 0.01²)/2 = 0.01, the '
        'loss of predicting the mean alone, the variance of the signal Σ 0.01 xᵢ halved. Such a '
        'λ pulls w almost to 0; 20 examples cannot pin down 200 weights of 0.01, so a model '
        'that ignores the inputs is as good as any the data support, and a large enough λ finds '
        'it. The test loss of the chosen λ is an honest estimate because the test set took no '
        'part in choosing; the validation loss of the best of several λ is, by a little, an '
        'optimistic one.'),
    '0.17/dropout.1': (
        'Every dropout setting beats none on validation and is steadier from seed to seed: no '
        'dropout gives 0.834 ± 0.031, the book\'s 0.2 then 0.5 gives 0.862 ± 0.004. Swapping the '
        'rates (0.5 on the first layer, 0.2 on the second) costs about a point (0.851 ± 0.007, '
        'about 2.5 standard errors away), and 0.5 on both does no better (0.849). Dropping more '
        'of the wide first layer\'s units removes more of the information the second layer '
        'needs.'),
    '0.17/dropout.2': (
        'Over 30 epochs at the page\'s lr 0.5, dropout 0.2/0.5 trains steadily for every seed '
        '(test accuracy 0.885 ± 0.005, training accuracy 0.905). Without dropout the same net is '
        'unstable: two seeds end at 0.838 and 0.818, and in the third the loss blew up to 822 '
        'without becoming NaN, ending at 0.494, so the mean (0.717 ± 0.193) says less than '
        'results.csv, which lists each run. Here dropout both regularises and keeps the large '
        'steps from running away.'),
    '0.17/dropout.3': (
        'The figures (seed 0; without dropout first, then 0.2/0.5) show each hidden layer\'s '
        'activations, measured before dropout, and its weight-gradient norm per epoch. Without '
        'dropout the statistics wander: at epoch 5 a gradient spike (the norm doubles at lr 0.5) '
        'halves the first layer\'s mean activation (0.13 to 0.06), and the variances keep '
        'drifting up. With dropout they settle after the first epoch and stay flat (variance '
        'about 0.14 and 0.16), and the gradient norms fall smoothly. The test accuracy moves the '
        'same way: 0.855 ± 0.009 with dropout, 0.847 ± 0.019 without.'),
    '0.17/dropout.5': (
        'Dropout 0.2/0.5 alone is best (0.862 ± 0.004 on validation). Weight decay does not add '
        'to it in 10 epochs: with dropout, λ = 1e-4 gives 0.857 and 1e-3 gives 0.828; without '
        'dropout, λ = 1e-3 gives 0.814 against 0.834 for none. The row without dropout at λ = '
        '1e-4 holds one run whose loss blew up at the page\'s lr 0.5 (mean loss 18,651; see '
        'results.csv): a reminder that three seeds can hide one unstable run in a mean.'),
    '0.17/numerical-stability-and-init.2': (
        'Yes: softmax regression trains from equal weights. All-zero and all-0.5 starts give '
        'exactly the same numbers (0.830 ± 0.005 on test), since adding one constant to every '
        'logit leaves softmax unchanged, and they match the book\'s random start (0.831 ± '
        '0.002). The symmetry that sinks an MLP (see 0.17/mlp-concise.3) is broken here by the '
        'labels: each class\'s weights get a different gradient from the start. Linear '
        'regression has one output and no hidden units, so it has no symmetry to break at all '
        '(0.17/linear-regression-scratch.1).'),
    '1.0/linear-regression-concise.4': (
        'At lr 0.003 the estimate keeps improving with epochs (w error 1.51 after 3, 0.165 after '
        '10, 0.0007 after 30); at lr 0.03 three epochs already reach the noise floor and more '
        'epochs change nothing beyond noise (0.0005-0.0006). At lr 0.3 the steps are so large '
        'that the estimate stops improving at about three times that error (0.0017-0.0022): '
        'SGD with a constant rate jitters around the minimum, the more so the larger the rate.'),
    '1.0/linear-regression-concise.5': (
        'The error in w shrinks as the data grows, from 3.7 with 5 examples to 0.04 with 500 and '
        'about 0.0005 from 1,000 on. At a fixed 3 epochs and batch 10, though, a small data set '
        'also means few steps (5 examples: 3 steps in all), so the left end of the curve '
        'measures too little training as much as too little data; from 1,000 examples on the '
        'error sits at the level the noise allows.'),
    '1.0/generalization.7': (
        'Validation accuracy climbs with the training images: 0.559 from 1,000, 0.679 from '
        '3,000, 0.790 from 30,000 and 0.831 from 50,000, still rising at the right end, which is '
        'the argument for more data. At the book\'s fixed 10 epochs a smaller set also gets '
        'fewer steps (1,000 images: 40 steps in all), so the left end is undertrained as well as '
        'short of data; the gap between training and validation accuracy, largest at 10,000 '
        '(0.799 against 0.677 ± 0.102), shows where fitting the few images starts to replace '
        'learning the task.'),
    '1.0/softmax-regression-scratch.5': (
        'Small batches win at a fixed 10 epochs: lr 0.03 with batch 32 is best on validation '
        '(0.847 ± 0.002), with many more steps per epoch at about twice the time of batch 256. '
        'Batch 2048 needs a larger rate (0.805 at lr 0.1 against 0.763 at 0.03), and lr 1 is '
        'too large for every batch size: the loss ends above 1.4 and the seeds disagree by up '
        'to 4 points, though the accuracy (0.76-0.80) degrades far less than the loss.'),
    '1.0/softmax-regression-concise.4': (
        'Raising the learning rate from 0.1 to 1, 3 and 10 makes the training loss worse (0.447, '
        '1.447, 4.32, 14.3) and the test accuracy too (0.831, 0.796, 0.757, 0.789), yet no run '
        'diverges: the fused cross-entropy never overflows, and a linear model\'s loss keeps a '
        'single bowl, so large steps bounce across it instead of escaping. Across seeds the '
        'accuracy spreads from ± 0.002 at lr 0.1 to ± 0.02 at 3 and 10, the mark of that '
        'bouncing; lr 0.01 is merely slow (0.795). The answer\'s curves.png overlays every '
        'rate\'s loss curve, epoch by epoch.'),
    '1.0/mlp-implementation.3': (
        'A hidden layer of one unit is a bottleneck: everything the output layer sees is one '
        'number per image, and accuracy falls from 0.844 ± 0.010 (one layer of 256) to 0.375 ± '
        '0.081 with 256-1 and 0.255 ± 0.145 with 256-1-256; widening again after the bottleneck '
        'cannot restore what it threw away. The large spreads show how much depends on where '
        'that single ReLU unit happens to start (a dead unit passes nothing at all).'),
    # the code answers (snippets)
    '0.17/linear-regression.2': (
        'Solving X^T X w = X^T y once, with a column of ones for the bias, lands within 3e-4 of '
        'every true parameter on 1000 examples (w1 1.999926, w2 -3.399708, b 4.199725): no '
        'learning rate, no epochs. The cost is forming and solving a (d+1) x (d+1) system, cheap '
        'here with two features but cubic in the width, and it breaks down when X^T X is singular '
        'or badly conditioned (collinear features, more features than examples).'),
    '0.17/linear-regression-scratch.4': (
        'Asking autograd for the gradient with create_graph=True makes the gradient itself part '
        'of the graph, so a second autograd.grad call returns the second derivative: both values '
        'match the hand-worked 8.0 for (2w - 1)^2 at w = 1.5. Without it, a plain backward() '
        'frees the graph and leaves a gradient that cannot be differentiated again.'),
    '0.17/linear-regression-scratch.5': (
        'With y_hat shaped (4, 1) and y shaped (4,), the difference broadcasts to a (4, 4) table '
        'of 16 terms, every prediction compared with every label, so the loss is silently wrong '
        'rather than an error. Reshaping y to y_hat\'s shape gives the intended 4 terms.'),
    '0.17/linear-regression-scratch.7': (
        'Cutting 1000 examples into batches of 64 leaves a remainder: d2l.data_iter yields 16 '
        'batches, the last holding only 40, and sees all 1000 examples. DataLoader with '
        'drop_last=True instead gives 15 full batches and skips 40 examples (960 seen) each '
        'epoch; with shuffling, which 40 are skipped changes from epoch to epoch.'),
    '0.17/linear-regression-concise.3': (
        'After backward() the gradient sits in net[0].weight.grad, with the same (1, 2) shape as '
        'the weight it belongs to. Its values (0.168, -1.204) are unrelated in size to the '
        'weights themselves (-0.005, 0.379): it is the slope of the loss, not a parameter.'),
    '0.17/softmax-regression-scratch.1': (
        'For modest logits [1, 2, 3] both versions agree (0.09, 0.2447, 0.6652). At [50, 100, 0] '
        'exp(100) is inf in float32, so the naive softmax gives nan where the answer is 1; at '
        '[-120, -110, -105] every exponential underflows to 0 and 0/0 gives three nans. '
        'Subtracting the largest logit first leaves the result unchanged mathematically and '
        'returns clean probabilities (0, 1, 0) and (0, 0.0067, 0.9933).'),
    '0.17/softmax-regression-scratch.2': (
        'With logits [120, 0, -5] the probability of class 1 rounds to 0 in float32, so taking '
        '-log of the softmax gives inf, and any average over a batch containing it is inf too. '
        'F.cross_entropy works from the logits with a log-sum-exp and returns the finite 120.0, '
        'the correct value to the printed precision.'),
    '0.17/mlp.3': (
        'Over 100001 points between -10 and 10, tanh(x) + 1 and 2 sigmoid(2x) never differ by '
        'more than 4.4e-16, about two units of float64 rounding: the identity holds, and the '
        'gap left is arithmetic noise. tanh is a sigmoid stretched to [-1, 1] with twice the '
        'slope.'),
    '0.17/underfit-overfit.1': (
        'Least squares on the first four features recovers the cubic\'s coefficients directly: '
        'with noisy labels to within 0.024 (5.0075, 1.1921, -3.4237, 5.6199), and with the '
        'noise removed to 3.6e-15, i.e. exactly up to float64 rounding. No training loop is '
        'needed when the model is linear in its parameters; the remaining error comes from the '
        'label noise alone.'),
    '0.17/underfit-overfit.3': (
        'Without the 1/i! scaling the largest feature is 2.9e9 (x^19 for the biggest |x|), '
        'against 5.2 with it, so raw features would blow up gradient steps. Surprisingly the '
        'scaling does not help conditioning: cond(X^T X) is 6.6e22 raw and 6.8e30 scaled, since '
        'the high powers shrink to near-zero columns; standardising each column does better '
        '(6.3e15) but is still near float64\'s limit. Values beyond about 1e16 mean X^T X is '
        'numerically singular, so their exact size is not meaningful.'),
    '0.17/weight-decay.4': (
        'On a random 3 x 5 matrix the squared Frobenius norm, trace(W^T W) and the plain sum of '
        'squared entries all come to 15.690033. The Frobenius norm is the L2 norm of the matrix '
        'read as one long vector, which is why weight decay on a matrix is the same w^T w '
        'penalty.'),
    '1.0/oo-design.2': (
        'With save_hyperparameters() the constructor\'s arguments become attributes (self.a '
        'exists); without it they do not, since Python only keeps what __init__ assigns. The '
        'call is a shortcut for writing self.a = a, self.b = b by hand.'),
    '1.0/synthetic-regression-data.3': (
        'A generator kept running gives new batches on the second pass (sums -1.91, 2.12, 1.03 '
        'then 4.69, 1.26, 0.46), so every epoch sees fresh data at no memory cost. Reseeding the '
        'generator at the start of each pass reproduces the first pass exactly (passes equal: '
        'True), which is how to get a fixed data set without storing it.'),
    '1.0/softmax-regression-concise.1': (
        'float64 can take exp(x) for x between about -708 and 710, float32 and bfloat16 between '
        'about -87 and 89 (they share an exponent width), but float16 only between -9.7 and '
        '11.1. Half precision is where naive softmax breaks first: a logit of 12 already '
        'overflows, so subtracting the maximum is not optional there.'),
    '1.0/mlp.7': (
        'The sigmoid\'s gradient peaks at 0.25 at x = 0 and falls fast: 0.105 at 2, 0.0066 at 5, '
        '4.5e-5 at 10, and exactly 0 at 20, where sigmoid(20) rounds to 1 in float32 (the true '
        'value is about 2e-9). Chained through 10 layers even the best case is 9.5e-7, and at '
        'x = 10 it is 3.8e-44: saturated units pass back almost nothing.'),
    '0.17/linear-regression-scratch.2': (
        'Gradient descent on R alone, with autograd supplying dloss/dR, fits R = 47.19 ohm from '
        '50 noisy readings of a 47-ohm resistor. The 0.19 ohm left is the meter noise (0.05 V on '
        'voltages of at most about 4.7 V), not a failure to converge: more iterations would not '
        'close it, more measurements would.'),
    '1.0/linear-regression-scratch.8': (
        'On clean data the squared loss recovers w best (error 0.0007) against 0.0069 for the '
        'absolute loss and 0.035 for Huber\'s, which has not converged in 3 epochs. One label set '
        'to 10000 wrecks the squared loss (w off by 3.77, b by 9.9), while absolute and Huber '
        'stay near their clean values, since each example\'s gradient is capped. Surprisingly the '
        'absolute loss does better with the outlier than without (b off by 0.000001): a different '
        'SGD path, luck rather than a benefit; Huber is the compromise that is quadratic near 0.'),
    '0.17/image-classification-dataset.3': (
        'This torchvision install lists 72 Dataset classes, from MNIST relatives (KMNIST, EMNIST, '
        'QMNIST) and CIFAR10/100 to ImageNet, Places365, COCO, VOC, Kinetics and stereo and '
        'optical-flow sets. A few are not data sets but building blocks: DatasetFolder, '
        'ImageFolder, VisionDataset and FakeData, for loading your own files or testing.'),
    '0.17/environment.2': (
        'A one-feature logistic classifier tells source inputs from target inputs (shifted by '
        '1.5) with accuracy 0.772, well above the 0.5 it would get if the two sets matched: the '
        'covariate shift is detected. It cannot reach 1 because the two Gaussians overlap, and '
        'its logit is exactly what the correction needs.'),
    '0.17/environment.3': (
        'Weighting each source example by exp(logit), the detector\'s estimate of q(x)/p(x), '
        'roughly halves the line fit\'s squared error on the target inputs: 0.473 against 0.899 '
        'unweighted. The labelling rule is the same on both sides, so the gain comes only from '
        'spending the fit on the inputs the target actually has.'),
    '0.17/image-classification-dataset.1': (
        'Throughput rises with the batch size: batch 1 is about ten times slower than batch 16, '
        'since every batch pays a fixed cost in Python, and the gains flatten from 256 on, where '
        'the copying of the images themselves dominates. With the kit\'s in-memory loader the '
        'book\'s batch 256 reads an epoch in a fraction of a second.'),
    '1.0/mlp-implementation.7': (
        'On this CPU the sizes run within about 10% of each other: the odd size 1025 is the '
        'slowest, 1024, 1028 and 1032 the fastest: a small alignment effect at most. '
        'Padding to multiples of 8 matters far more on GPUs, whose tensor cores work in such '
        'tiles. Each size is timed in turn, so a busy machine can make the table track the load '
        'instead; rerun on a quiet one.'),
    '1.0/mlp-implementation.6': (
        'Hand-written matrices and nn.Sequential cost about the same per forward and backward '
        'pass: the two columns stay within a few percent of each other at every size. The time '
        'grows with the matrix products, about thirty-fold from 784-64-10 to 784-1024-1024-10, '
        'not with the framework layer. Timings taken while other jobs share the machine scatter '
        'widely; rerun on a quiet one.'),
    '1.0/synthetic-regression-data.4': (
        'Creating a new generator seeded with the same number at the start of each pass gives '
        'identical batches every time (batch sums -1.91, 2.12, 1.03 on both passes), while one '
        'generator left running does not. Fixing the seed per pass thus turns on-the-fly data '
        'into a fixed data set that never has to be stored.'),
}
