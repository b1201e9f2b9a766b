"""What the answers to the books' exercises show: two or three sentences per answer, by ID.

A run answer's note types no measured number and no judged comparison: it names them in braces,
{valid_acc@hidden=128} or {tied@hidden=256}, and `python -m d2l exercises --write-doc` fills them
in from that answer's results.csv (the syntax: d2lkit/exercise_numbers.py), refusing a note whose
claimed verdict the numbers do not give. A code answer's note names the cells of its snippet's
table the same way, {seconds@n=1025}, filled in from its table.csv.
Where two editions ask the same question, the note sits under the first ID of the heading.
"""

NOTES: dict[str, str] = {
    '0.17/linear-regression-scratch.1': (
        'All three starts end at about the same training loss ({train_loss@init=zero} from zero, '
        "{train_loss@init=normal:0.01} from the book's N(0, 0.01²)), near half the noise "
        'variance (0.01² / 2 = 5e-5), the loss of the true parameters; a fit can land a little '
        "below it on its own training set, having fitted some of that set's noise. Against the "
        "lowest, the book's start is {tied@init=normal:0.01} and a start with variance 1000 "
        '(weights around ±30) is {tied@init=normal:31.62}. Zero weights are fine for linear '
        'regression: each weight multiplies a different feature and there are no hidden units '
        'that could be interchangeable, so nothing is symmetric. The wide start ends with w a '
        'little further off ({w_error@init=normal:31.62} against {w_error@init=zero}): a convex '
        'quadratic loss forgets its starting point geometrically fast.'),
    '0.17/linear-regression-scratch.6': (
        'For small learning rates what counts is the product of learning rate and epochs: lr 0.003 '
        'for 10 epochs and lr 0.01 for 3 epochs (both 0.03) end at the same loss '
        '({train_loss@lr=0.003,epochs=10} and {train_loss@lr=0.01,epochs=3}). The lowest loss is '
        'lr 0.01 for 10 epochs ({train_loss@lr=0.01,epochs=10}); the book\'s lr 0.03 for 3 epochs '
        'is {tied@lr=0.03,epochs=3}, already at the noise floor. At lr 0.1 the error in w is a '
        'little larger ({w_error@lr=0.1,epochs=3} after 3 epochs, {w_error@lr=0.1,epochs=10} '
        'after 10, against {w_error@lr=0.01,epochs=10}), the larger steps jittering around the '
        'minimum; its training loss after 3 epochs is {worse@lr=0.1,epochs=3}.'),
    '0.17/linear-regression-concise.1': (
        'With reduction sum the gradient is batch-size (10) times that of the mean, so sum at '
        'lr 0.003 gives the numbers of mean at lr 0.03 (error in w '
        '{w_error@reduction=sum,lr=0.003} '
        'and {w_error@reduction=mean,lr=0.03}), and sum at 0.03 those of mean at 0.3 '
        '({w_error@reduction=sum,lr=0.03} and {w_error@reduction=mean,lr=0.3}): the matching '
        'learning rate is the mean\'s divided by the batch size. Sum at lr 0.3 (the mean\'s lr 3) '
        'diverged for {diverged@reduction=sum,lr=0.3} of the 3 seeds, a row of the table too.'),
    '0.17/linear-regression-concise.2': (
        'The train_loss column is each run\'s own loss, so it does not compare across rows (its '
        'verdicts only say the squared loss has the smallest numbers); the errors in w and b do. '
        'After the book\'s 3 epochs the squared loss recovers w to {w_error@loss=squared}, the '
        'absolute loss to {w_error@loss=abs} and Huber\'s to {w_error@loss=huber}. Huber\'s '
        'gradient with respect to a residual r, min(|r|, 1)·sign(r), is never larger in size than '
        'the absolute loss\'s constant 1, so with the same learning rate it takes steps no larger, '
        'and while the residuals are below 1 it moves less: after 3 epochs it is still further '
        'from the fit. The absolute loss keeps steps of one size and ends jittering around the '
        'fit. With Gaussian noise and no outliers the squared loss, the maximum-likelihood '
        'choice, is the one to use.'),
    '0.17/softmax-regression-concise.1': (
        'On the validation split the best mean is lr 0.03 with batch 64 '
        "({valid_acc@lr=0.03,batch_size=64}); the book's lr 0.1 with batch 256 "
        '({valid_acc@lr=0.1,batch_size=256}), its nearest rival, was tied with it at 3 seeds and '
        'ran on to 10, where it is {worse@lr=0.1,batch_size=256}: a real difference, but small '
        "next to one run's spread over seeds. At a fixed 10 epochs a larger batch takes fewer "
        'steps and wants a larger learning rate: lr 0.03 with batch 1024 '
        '({valid_acc@lr=0.03,batch_size=1024}) is {worse@lr=0.03,batch_size=1024}. lr 0.3 '
        'spreads widely over seeds (± {valid_acc.std@lr=0.3,batch_size=64} at batch 64, ± '
        '{valid_acc.std@lr=0.3,batch_size=256} at 256), so three seeds leave it '
        '{tied.word@lr=0.3,batch_size=64} at those two sizes; at batch 1024 it is '
        '{worse@lr=0.3,batch_size=1024}. Batch 64 takes {seconds@lr=0.03,batch_size=64} s, batch '
        '256 {seconds@lr=0.1,batch_size=256} s.'),
    '0.17/softmax-regression-concise.2': (
        'After 50 epochs the test accuracy is {test_acc}, against '
        '{test_acc@1.0/softmax-regression-concise.4:lr=0.1} after the default 10 (the lr 0.1 row '
        'of 1.0/softmax-regression-concise.4, the same seeds). The training loss still creeps '
        'down ({train_loss}) while the test accuracy levels off, moving a little from epoch to '
        'epoch at the constant lr 0.1 (curves.png). A linear model of 7,850 parameters on 60,000 '
        'images has too little capacity to overfit much (train accuracy {train_acc.mean} against '
        '{test_acc.mean} on test).'),
    '0.17/mlp-scratch.1': (
        'The best mean validation accuracy is at 128 hidden units ({valid_acc@hidden=128}), but '
        'no width is told apart from it. Its nearest rival, 1024 units ({valid_acc@hidden=1024}), '
        'ran on to 10 seeds and still cannot be told apart: {tied@hidden=1024}. With three seeds '
        'the others are tied with it too: 16 units ({valid_acc@hidden=16}) is {tied@hidden=16}, '
        '32 {tied.word@hidden=32}, 64 {tied.word@hidden=64}, 512 {tied.word@hidden=512}, and the '
        'book\'s 256 ({valid_acc@hidden=256}) is {tied@hidden=256}: its lower mean is within what '
        'its seeds spread, not a valley. The training loss falls steadily with width '
        '({train_loss@hidden=16} at 16 units, {train_loss@hidden=1024} at 1024) while the time '
        'grows with it ({seconds@hidden=16} s to {seconds@hidden=1024} s), so a narrow net is '
        'the economical choice for 10 epochs of plain SGD; ranking the widths would take more '
        'seeds.'),
    '0.17/mlp-scratch.2': (
        "A second hidden layer buys nothing measurable in the book's 10 epochs: the book's one "
        'layer of 256 has the best mean ({valid_acc@hidden=256}, {best.word@hidden=256}); '
        '784-256-128-10, its nearest rival ({valid_acc@hidden=256 128}), cannot be told apart '
        'from it at 10 seeds ({tied@hidden=256 128}), and 784-256-256-10 '
        '({valid_acc@hidden=256 256}) is {tied@hidden=256 256}, its three seeds spread wide. The '
        'deeper nets end at training losses of {train_loss@hidden=256 128} and '
        '{train_loss@hidden=256 256}, one layer at {train_loss@hidden=256}: from the small N(0, '
        '0.01²) start the signal shrinks through every layer, so a deeper net needs more epochs '
        '(or a larger initialisation) before its extra layer pays.'),
    '0.17/mlp-scratch.3': (
        "lr 0.01 is too slow for 10 epochs ({valid_acc@lr=0.01}, {worse@lr=0.01}). The book's "
        '0.1 has the best mean ({valid_acc@lr=0.1}, {best.word@lr=0.1}); lr 0.3, its nearest '
        "rival ({valid_acc@lr=0.3}, spread wider over seeds than lr 0.1's), cannot be told apart "
        'from it at 10 seeds: {tied@lr=0.3}. lr 0.03 ({valid_acc@lr=0.03}) is '
        '{tied.word@lr=0.03} at 3 seeds. At lr 1 training breaks down without a NaN: the '
        'training loss stays at {train_loss@lr=1}, near log 10 = 2.303, the loss of a uniform '
        'guess, and validation accuracy is {valid_acc@lr=1}, {worse@lr=1}. Its seeds differ: '
        'seed 0 ends at {valid_acc.s0@lr=1} (chance is 0.1 for ten classes), seeds 1 and 2 at '
        '{valid_acc.s1@lr=1} and {valid_acc.s2@lr=1}, far from learning. The steps are too large '
        'for the loss to go down; what happens inside the net (dead ReLU units, say) is not '
        'measured here: --layer-stats would show it.'),
    '0.17/mlp-scratch.4': (
        "Three searches of {runs} trials each (Optuna's TPE sampler, one seed per trial, chosen "
        'on the validation split) tuned together the four hyperparameters the exercise names '
        '(the learning rate, the epochs, the number of hidden layers, --depth, and their width) '
        'and a fifth, the batch size, from 32 to 512. They differ in pruning only. Hyperband '
        '(the first table) stopped {pruned_runs} of its trials early, successive halving that '
        'judges no trial before epoch 5 stopped {pruned_runs@0.17/mlp-scratch.4#halving:}, the '
        'third search none. Yet they took {worker_minutes}, '
        '{worker_minutes@0.17/mlp-scratch.4#halving:} and '
        '{worker_minutes@0.17/mlp-scratch.4#no-pruning:} worker-minutes: what a search costs '
        'depends on what its sampler draws as much as on what its pruner stops, and the sampler '
        'of the Hyperband search happened to draw wider networks than that of the unpruned one '
        '(the hidden columns of the two tables). Their best trials reached {valid_acc@best}, '
        '{valid_acc@0.17/mlp-scratch.4#halving:best} and '
        '{valid_acc@0.17/mlp-scratch.4#no-pruning:best} on validation, closer to each other '
        'than one run varies with its seed. So one search of each cannot rank the pruners by '
        'what they find per CPU-minute: here each pruned search found a setting as good as the '
        "unpruned one did, at no lower cost. A single seed's last epoch flatters the luckiest "
        'trial, since at a constant learning rate that number jumps from epoch to epoch (the '
        "best lines above show it: each search's best trial, run once more on all the training "
        'images, tests below its validation score or above it). So the three best trials of all '
        'three searches ran again on two fresh seeds, 1 and 2 (the finalists), and the chosen '
        'setting is the best of them by mean, {valid_acc@0.17/mlp-scratch.4#finalists:best}: '
        '--lr {lr@0.17/mlp-scratch.4#finalists:best}, --depth '
        '{depth@0.17/mlp-scratch.4#finalists:best} of {hidden@0.17/mlp-scratch.4#finalists:best} '
        'units, batches of '
        '{batch_size@0.17/mlp-scratch.4#finalists:best}, '
        '{epochs@0.17/mlp-scratch.4#finalists:best} epochs. In the confirmation, over '
        '{n@0.17/mlp-scratch.4#confirm:best} seeds, it averages '
        "{valid_acc@0.17/mlp-scratch.4#confirm:best} on validation, the book's setting (--lr "
        '{lr@0.17/mlp-scratch.4#confirm:book}, --depth {depth@0.17/mlp-scratch.4#confirm:book} '
        'of {hidden@0.17/mlp-scratch.4#confirm:book} units, batches of '
        '{batch_size@0.17/mlp-scratch.4#confirm:book}, {epochs@0.17/mlp-scratch.4#confirm:book} '
        'epochs) {valid_acc@0.17/mlp-scratch.4#confirm:book} on the same images and seeds, '
        '{worse@0.17/mlp-scratch.4#confirm:book}. Trained on all the training images, the '
        "chosen setting's test accuracy is {test_acc@0.17/mlp-scratch.4#test:best} over seeds "
        "0, 1 and 2, the book's {test_acc@0.17/mlp-scratch.4#test:book} "
        '({worse.word@0.17/mlp-scratch.4#test:book}); the best published answer to this '
        'exercise, 0.8865, is one run chosen on the test set. What the search found is mostly '
        'more training: a batch of B images makes one SGD step, so small batches give many more '
        "steps per epoch, and more epochs multiply them again. The book's 10 epochs of 235 "
        'steps stop while the net still underfits: its training accuracy is '
        "{train_acc@0.17/mlp-scratch.4#test:book}, the chosen setting's "
        '{train_acc@0.17/mlp-scratch.4#test:best}. The steps cost time: a run of the chosen '
        "setting takes {seconds@0.17/mlp-scratch.4#test:best} s on these 2 cores, the book's "
        '{seconds@0.17/mlp-scratch.4#test:book} s, since a small batch uses the cores less well '
        'per example. The three importance figures agree that the epochs matter and the depth '
        'little, and disagree on the batch size, second in one and fourth in the others. Each '
        'weighs how its best trials differ from all the trials it drew, and after their 10 '
        'random first trials the samplers drew small batches almost only: among the trials '
        'compared the batch size varies little, so a figure can rank it low while every '
        'finalist trains on small batches. Tuning jointly is harder than one at a time because '
        'the hyperparameters interact (the best learning rate moves with the batch size, the '
        'width, the depth and the epochs), because the space grows with each one multiplied in, '
        'and because every trial is a noisy measurement. A strategy: choose on a validation '
        'split, sample the space (TPE) rather than grid it, prune only at equal epochs after a '
        'minimum budget, rerun the finalists on fresh seeds, then the chosen one against the '
        'baseline over enough seeds to tell them apart.'),
    '0.17/mlp-concise.1': (
        'Depth and learning rate interact. At lr 0.1 one layer of 256 gives '
        '{valid_acc@hidden=256,lr=0.1}, two {valid_acc@hidden=256 256,lr=0.1} and three '
        '{valid_acc@hidden=256 256 256,lr=0.1}; at lr 0.3 two layers of 256 have the best mean '
        '({valid_acc@hidden=256 256,lr=0.3}). From the small N(0, 0.01²) start a deeper net '
        'begins with tiny signals and needs larger steps or more epochs. Most settings are tied '
        'with the best: its nearest rival, one layer at lr 0.3, even at 10 seeds '
        '({tied@hidden=256,lr=0.3}), the others at three. Only two layers at lr 0.1 '
        '({worse@hidden=256 256,lr=0.1}) and 512-256-128 at lr 0.1 '
        '({worse@hidden=512 256 128,lr=0.1}) are set apart, while three layers of 256 at lr 0.1, '
        'despite the lowest mean, are {tied@hidden=256 256 256,lr=0.1}: their differences from '
        'the best vary too much from seed to seed.'),
    '0.17/mlp-concise.2': (
        'ReLU has the best mean on validation ({valid_acc@activation=relu}, '
        '{best.word@activation=relu}). tanh, its nearest rival ({valid_acc@activation=tanh}), '
        'was tied with it at 3 seeds and ran on to 10, where it is {worse@activation=tanh}: a '
        'small but real gap. Sigmoid ({valid_acc@activation=sigmoid}) is '
        '{tied@activation=sigmoid}: its lower mean, but only three seeds. Sigmoid ends at a '
        'training loss of {train_loss@activation=sigmoid}, ReLU at {train_loss@activation=relu}: '
        'its slope is at most 1/4, so from small weights it learns slowest in 10 epochs.'),
    '0.17/mlp-concise.3': (
        "Xavier's initialisation has the best mean ({valid_acc@init=xavier} on validation, "
        "{best.word@init=xavier}); the book's N(0, 0.01²) ({valid_acc@init=normal:0.01}), its "
        'nearest rival, was tied with it at 3 seeds and ran on to 10, where it is '
        "{worse@init=normal:0.01}: Xavier scales each layer's weights to keep the signal's "
        'variance, so the 10 epochs start from a better place. N(0, 1) starts with activations '
        'far too large and is {worse@init=normal:1}. All-zero weights never learn, and not '
        'because of symmetry: with every weight 0 each hidden unit outputs ReLU(0) = 0, so the '
        'output weights get a zero gradient, and with the output weights 0 no gradient flows '
        'back to the hidden layer: every weight gradient is exactly zero, only the output bias '
        'moves, and the loss stays at log 10 = 2.303 ({train_loss.mean:.3f@init=zero}) with '
        'accuracy at chance ({valid_acc@init=zero}). Symmetry is the constant 0.01 start: its '
        'gradients are not zero, but every hidden unit computes the same thing and gets the same '
        'gradient, so the units stay equal and the net learns only what one unit can '
        '({valid_acc@init=constant:0.01}, {worse.word@init=constant:0.01}).'),
    '0.17/underfit-overfit.2': (
        "Every run takes the same 4,000 SGD steps (`--steps 4000`, the book's 400 epochs of 100 "
        'examples; at 10 examples that is 4,000 epochs of one full batch), so the data sizes '
        'differ in data, not in training. Which degree brings the training loss to 0? With n '
        'examples a polynomial of degree n − 1 can pass through all of them, but within these '
        'steps none gets near 0. At 10 examples degree 9 ends at '
        '{train_loss@degree=9,num_train=10} and degree 19 at '
        '{train_loss@degree=19,num_train=10}, about the same as degree 5 '
        '({train_loss@degree=5,num_train=10}); at 20 examples degree 19 ends at '
        "{train_loss@degree=19,num_train=20}: all of them above the noise's variance, 0.01, the "
        'loss of the true curve. Even the true degree 3 is still above it at 10 examples '
        '({train_loss@degree=3,num_train=10}): gradient descent converges slowly along the '
        'directions in which so few points barely vary, and the higher features, scaled by 1/i!, '
        'are smaller still, so their weights barely move from the start. So what separates 10 '
        'examples from 50 or 100 is not a fit of the noise: it is that 10 points pin down the '
        'cubic poorly, and the test loss shows it for every degree from 3 up (degree 3 at 10 '
        'examples {test_loss@degree=3,num_train=10}, {worse@degree=3,num_train=10}; degree 19 '
        '{test_loss@degree=19,num_train=10}, {worse@degree=19,num_train=10}). Degree 1 underfits '
        'at every size: its training loss grows with the data '
        '({train_loss@degree=1,num_train=10} at 10 examples, {train_loss@degree=1,num_train=100} '
        'at 100), a line following a few points better than many. The lowest mean test loss is '
        'degree 3 at 50 examples ({test_loss@degree=3,num_train=50}); with 3 seeds, each drawing '
        'its own data set, degree 3 at 100 is {tied@degree=3,num_train=100} and degree 19 at 100 '
        '{tied@degree=19,num_train=100}.'),
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
        "The book's 0.2 then 0.5 has the best mean on validation ({valid_acc@dropout=0.2 0.5}, "
        '{best.word@dropout=0.2 0.5}), and 0.2 on both layers, its nearest rival '
        '({valid_acc@dropout=0.2 0.2}), cannot be told apart from it at 10 seeds '
        '({tied@dropout=0.2 0.2}). Three seeds leave the others tied with it too: swapping the '
        'rates ({valid_acc@dropout=0.5 0.2}, {tied.word@dropout=0.5 0.2}), 0.5 on both '
        '({valid_acc@dropout=0.5 0.5}, {tied.word@dropout=0.5 0.5}), and no dropout at all '
        '({valid_acc@dropout=0 0}, {tied.word@dropout=0 0}), whose seeds spread by ± '
        "{valid_acc.std@dropout=0 0}: at the page's lr 0.5, one of its runs ends at "
        "{valid_acc.s2@dropout=0 0}. Dropout's clearest effect here is on that spread, not on "
        'the mean.'),
    '0.17/dropout.2': (
        "Over 30 epochs at the page's lr 0.5, dropout 0.2/0.5 trains steadily for every seed "
        '(test accuracy {test_acc@dropout=0.2 0.5}, training accuracy '
        '{train_acc@dropout=0.2 0.5}). Without dropout the same net is unstable: seeds 0 and 1 '
        'end at {test_acc.s0@dropout=0 0} and {test_acc.s1@dropout=0 0}, and in seed 2 the loss '
        'became non-finite in the last epoch, so that run counts as diverged '
        '({diverged@dropout=0 0} in the table) and stays out of the mean (results.csv keeps the '
        '{test_acc.s2@dropout=0 0} it read before). Over the {n@dropout=0 0} seeds that '
        'finished, no dropout is {tied@dropout=0 0}: so few seeds cannot rank the two, though '
        'the diverged seed shows what dropout prevented here.'),
    '0.17/dropout.3': (
        "The figures (seed 0; without dropout first, then 0.2/0.5) show each hidden layer's "
        'activations, measured before dropout, and its weight-gradient norm per epoch. They are '
        "one seed's curves: they show how a run can look, not a difference between the settings. "
        "In this seed the run without dropout has a gradient spike that shifts the first layer's "
        "mean activation; with dropout there is no such spike, though its first layer's mean "
        'activation keeps drifting slowly over the epochs. Whether that holds in general would '
        "need every seed's statistics. The test accuracies do not separate the two: "
        '{test_acc@dropout=0 0} without dropout, {test_acc@dropout=0.2 0.5} with it, no dropout '
        'being {tied@dropout=0 0}.'),
    '0.17/dropout.5': (
        'Dropout 0.2/0.5 alone has the best mean on validation '
        '({valid_acc@dropout=0.2 0.5,weight_decay=0}), and weight decay does not add to it in 10 '
        'epochs: with dropout, λ = 1e-4, its nearest rival, gives '
        '{valid_acc@dropout=0.2 0.5,weight_decay=0.0001}, '
        '{tied@dropout=0.2 0.5,weight_decay=0.0001}, and 1e-3 gives '
        '{valid_acc@dropout=0.2 0.5,weight_decay=0.001} '
        "({tied.word@dropout=0.2 0.5,weight_decay=0.001} at 3 seeds). Without dropout the page's "
        'lr 0.5 is unstable, so those rows say little: at λ = 1e-3 seed 0 ends at a training '
        "loss of {train_loss.s0:.2f@dropout=0 0,weight_decay=0.001} and the seeds' losses spread "
        'by ± {train_loss.std@dropout=0 0,weight_decay=0.001} (see results.csv). The three rows '
        'without dropout are {tied.word@dropout=0 0,weight_decay=0}, '
        '{tied.word@dropout=0 0,weight_decay=0.0001} and '
        '{tied.word@dropout=0 0,weight_decay=0.001} with the best only because three such seeds '
        'cannot pin a mean down: a reminder that one unstable run can hide in a mean.'),
    '0.17/numerical-stability-and-init.2': (
        'Yes: softmax regression trains from equal weights. All-zero and all-0.5 starts give the '
        'same numbers ({test_acc@init=zero} and {test_acc@init=constant:0.5} on test), since '
        'adding one constant to every logit leaves softmax unchanged, and they are '
        '{tied@init=zero} of the book\'s random start ({test_acc@init=normal:0.01}). Each class\'s '
        'weights get a different gradient from the labels at the first step, so equal starts '
        'separate at once. An MLP is different on two counts (0.17/mlp-concise.3): from all-zero '
        'weights its weight gradients are exactly zero, since the hidden layer passes nothing, '
        'and from a constant start its hidden units stay equal, which is symmetry. Linear '
        'regression has one output and no hidden units, so nothing in it is symmetric '
        '(0.17/linear-regression-scratch.1).'),
    '1.0/linear-regression-concise.4': (
        'At lr 0.003 the estimate keeps improving with epochs (error in w '
        '{w_error@lr=0.003,epochs=3} after 3, {w_error@lr=0.003,epochs=10} after 10, '
        '{w_error@lr=0.003,epochs=30} after 30); at lr 0.03 three epochs already reach the noise '
        'floor ({w_error@lr=0.03,epochs=3}; in training loss the book\'s setting is '
        '{tied@lr=0.03,epochs=3}). At lr 0.3 the estimate stops at a larger error '
        '({w_error@lr=0.3,epochs=3} after 3 epochs, {w_error@lr=0.3,epochs=30} after 30) and its '
        'training loss after 30 epochs is {worse@lr=0.3,epochs=30}: SGD with a constant rate '
        'jitters around the minimum, the more so the larger the rate.'),
    '1.0/linear-regression-concise.5': (
        'The error in w shrinks as the data grows, from {w_error@num_examples=5} with 5 examples '
        'to {w_error@num_examples=500} with 500 and {w_error@num_examples=1000} with 1,000. At a '
        'fixed 3 epochs and batch 10, though, a small data set also means few steps (5 examples: '
        '3 steps in all), so the left end of the curve measures too little training as much as '
        'too little data. From 1,000 examples on the error stops shrinking '
        '({w_error@num_examples=1000} at 1,000, {w_error@num_examples=10000} at 10,000), where '
        'the label noise alone would let it fall as 1/√n, about 3 times over that range: at a '
        "constant lr 0.03, SGD's own jitter around the minimum, not the amount of data, sets "
        'this floor (closed-form least squares does better on 1,000 examples, '
        '0.17/linear-regression.2). In training loss 10,000 examples are '
        '{tied@num_examples=10000}.'),
    '1.0/generalization.7': (
        'Validation accuracy mostly climbs with the training images: {valid_acc@num_train=1000} '
        'from 1,000, {valid_acc@num_train=3000} from 3,000, {valid_acc@num_train=30000} from '
        '30,000 and {valid_acc@num_train=50000} from 50,000, with 10,000 '
        '({valid_acc@num_train=10000}) the exception discussed below. 1,000 images are '
        '{worse@num_train=1000}, but 30,000 are {tied@num_train=30000}: three seeds do not show '
        "whether the curve still rises at the right end. At the book's fixed 10 epochs a smaller "
        'set also gets fewer steps (1,000 images: 40 steps in all), so the left end is '
        'undertrained as well as short of data. The 10,000 row is no sign of overfitting: its '
        'training accuracy is alike for every seed ({train_acc@num_train=10000}) while its '
        'validation accuracy ranges from {valid_acc.s0@num_train=10000} (seed 0) to '
        '{valid_acc.s1@num_train=10000} (seed 1), the mark of where the last epoch happened to '
        'land at the constant lr 0.1; overfitting would show in every seed.'),
    '1.0/softmax-regression-scratch.5': (
        'Small batches do well at a fixed 10 epochs: lr 0.03 with batch 32 has the best mean on '
        'validation ({valid_acc@lr=0.03,batch_size=32}), taking '
        '{seconds@lr=0.03,batch_size=32} s, while the book\'s batch 256 at lr 0.1 takes '
        '{seconds@lr=0.1,batch_size=256} s and is {tied@lr=0.1,batch_size=256}. Batch 2048 gives '
        '{valid_acc@lr=0.1,batch_size=2048} at lr 0.1 and {valid_acc@lr=0.03,batch_size=2048} at '
        '0.03, both {worse.word@lr=0.1,batch_size=2048}: with so few steps it needs the larger '
        'rate. lr 1 is too large for every batch size: the training loss ends between '
        '{train_loss.mean@lr=1,batch_size=256} and {train_loss.mean@lr=1,batch_size=32}, and the '
        'seeds spread widely (± {valid_acc.std@lr=1,batch_size=256} at batch 256), so that lr 1 '
        'at batch 32 is still {tied@lr=1,batch_size=32}: the accuracy degrades far less than the '
        'loss.'),
    '1.0/softmax-regression-concise.4': (
        "Raising the learning rate from the book's 0.1 to 1, 3 and 10 makes the training loss "
        'grow ({train_loss.mean@lr=0.1}, {train_loss.mean@lr=1}, {train_loss.mean@lr=3}, '
        '{train_loss.mean@lr=10}) and the mean test accuracy fall ({test_acc.mean@lr=1}, '
        '{test_acc.mean@lr=3}, {test_acc.mean@lr=10}), though with three seeds lr 1 is '
        '{tied@lr=1} and lr 3 {tied.word@lr=3}, their seeds spreading by ± {test_acc.std@lr=1} '
        'and ± {test_acc.std@lr=3}; lr 10 is {worse@lr=10}. Yet no run diverges: the fused '
        'cross-entropy never overflows, and its gradient with respect to the logits, softmax − '
        'one-hot, is bounded (each entry lies in [−1, 1]), so however large the logits grow a '
        'step moves the weights by at most the learning rate times the inputs. A single bowl '
        'alone would not save it: the squared loss is convex too, and it diverged at its largest '
        'rate in 0.17/linear-regression-concise.1 '
        '({diverged@0.17/linear-regression-concise.1:reduction=sum,lr=0.3} runs of 3). lr 0.01 '
        "is merely slow ({test_acc@lr=0.01}, {worse.word@lr=0.01}). The answer's curves.png "
        "overlays every rate's loss curve, epoch by epoch."),
    '1.0/mlp-implementation.3': (
        'A hidden layer of one unit is a bottleneck: everything the output layer sees is one '
        'number per image, and test accuracy falls from {test_acc@hidden=256} (one layer of '
        '256) to {test_acc@hidden=256 1} with 256-1 ({worse@hidden=256 1}) and '
        '{test_acc@hidden=256 1 256} with 256-1-256 ({worse.word@hidden=256 1 256}); widening '
        'again after the bottleneck cannot restore what it threw away. The large spreads show '
        'how much depends on where that single ReLU unit happens to start (a unit inactive for '
        'every image passes nothing at all).'),
    # the code answers (snippets)
    '0.17/linear-regression.2': (
        'Solving X^T X w = X^T y once, with a column of ones for the bias, lands within '
        '{error.max:.1g} of every true parameter on 1000 examples (w1 '
        '{closed form:.6f@parameter=w1}, w2 {closed form:.6f@parameter=w2}, b '
        '{closed form:.6f@parameter=b}): no learning rate, no epochs. The cost is forming and '
        'solving a (d+1) x (d+1) system, cheap here with two features but cubic in the width, '
        'and it breaks down when X^T X is singular or badly conditioned (collinear features, '
        'more features than examples).'),
    '0.17/linear-regression-scratch.4': (
        'Asking autograd for the gradient with create_graph=True makes the gradient itself part '
        'of the graph, so a second autograd.grad call returns the second derivative: autograd '
        'gives {autograd@derivative=first} and {autograd@derivative=second} for (2w - 1)^2 at w '
        '= 1.5, the hand-worked 4(2w - 1) = {by hand@derivative=first} and 8 = '
        '{by hand@derivative=second}. Without it, a plain backward() frees the graph and leaves '
        'a gradient that cannot be differentiated again.'),
    '0.17/linear-regression-scratch.5': (
        'With y_hat shaped (4, 1) and y shaped (4,), the difference broadcasts to a '
        '{shape@loss of=y_hat - y} table of {terms summed@loss of=y_hat - y} terms, every '
        'prediction compared with every label, so the loss is silently wrong rather than an '
        "error. Reshaping y to y_hat's shape gives the intended "
        '{terms summed@loss of=y_hat - y.reshape(y_hat.shape)} terms.'),
    '0.17/linear-regression-scratch.7': (
        'Cutting 1000 examples into batches of 64 leaves a remainder: d2l.data_iter yields '
        '{batches@loader=d2l.data_iter} batches, the last holding only '
        '{last batch@loader=d2l.data_iter}, and sees all {examples seen@loader=d2l.data_iter} '
        'examples. DataLoader with drop_last=True instead gives '
        '{batches@loader=DataLoader(drop_last=True)} full batches and sees '
        '{examples seen@loader=DataLoader(drop_last=True)} examples each epoch; with shuffling, '
        'which ones are skipped changes from epoch to epoch.'),
    '0.17/linear-regression-concise.3': (
        'After backward() the gradient sits in net[0].weight.grad, with the same '
        '{shape@tensor=net[0].weight.grad} shape as the weight it belongs to. Its values '
        '({values:.3f@tensor=net[0].weight.grad}) are unrelated in size to the weights '
        'themselves ({values:.3f@tensor=net[0].weight}): it is the slope of the loss, not a '
        'parameter.'),
    '0.17/softmax-regression-scratch.1': (
        'For modest logits [1, 2, 3] both versions agree ({naive@logits=[1.0, 2.0, 3.0]}). At '
        '[50, 100, 0] exp(100) is inf in float32, so the naive softmax gives '
        '{naive@logits=[50.0, 100.0, 0.0]} where the answer is (0, 1, 0); at [-120, -110, -105] '
        'every exponential underflows to 0 and 0/0 gives '
        '{naive@logits=[-120.0, -110.0, -105.0]}. Subtracting the largest logit first leaves the '
        'result unchanged mathematically and returns clean probabilities '
        '({shifted by max@logits=[50.0, 100.0, 0.0]}) and '
        '({shifted by max@logits=[-120.0, -110.0, -105.0]}).'),
    '0.17/softmax-regression-scratch.2': (
        'With logits [120, 0, -5] the probability of class 1 rounds to 0 in float32, so taking '
        '-log of the softmax gives {value@cross-entropy=-log(softmax(o)[y])}, and any average '
        'over a batch containing it is too. F.cross_entropy works from the logits with a '
        'log-sum-exp and returns the finite {value@cross-entropy=F.cross_entropy(o, y)}, the '
        'correct value to the printed precision.'),
    '0.17/mlp.3': (
        'Over {points} points between -10 and 10, tanh(x) + 1 and 2 sigmoid(2x) never differ by '
        'more than {max |tanh(x) + 1 - 2 sigmoid(2x)|:.2g}, a couple of units of float64 '
        'rounding (2.2e-16 each): the identity holds, and the gap left is arithmetic noise. tanh '
        'is a sigmoid with its input scaled by 2 and its output stretched to (-1, 1): its slope '
        "at 0 is 1, four times the sigmoid's 1/4."),
    '0.17/underfit-overfit.1': (
        "Least squares on the first four features recovers the cubic's coefficients directly: "
        'with noisy labels to within {max |w_hat - w|:.2g@labels=noisy labels} '
        '({w_hat (first 4):.4f@labels=noisy labels}), and with the noise removed to '
        '{max |w_hat - w|:.2g@labels=noiseless labels}, i.e. exactly up to float64 rounding. No '
        'training loop is needed when the model is linear in its parameters; the remaining error '
        'comes from the label noise alone.'),
    '0.17/underfit-overfit.3': (
        'Without the 1/i! scaling the largest feature is {largest |feature|:.2g@features=x^i} '
        '(x^19 for the biggest |x|), against {largest |feature|:.2g@features=x^i / i!} with it, '
        'so raw features would blow up gradient steps: that is what the scaling is for. Neither '
        'version is well conditioned: cond(X^T X) is {cond(X^T X):.2g@features=x^i} raw and '
        "{cond(X^T X):.2g@features=x^i / i!} scaled, both past 1e16 (1 / float64's rounding "
        'unit), where X^T X is numerically singular and the figure means no more than '
        '"singular". The powers of x are nearly collinear whatever their scale; standardising '
        'each column gives {cond(X^T X):.2g@features=x^i, standardised (but x^0)}, still near '
        'the limit, and orthogonal polynomials (Legendre, Chebyshev) are the real fix.'),
    '0.17/weight-decay.4': (
        'On a random 3 x 5 matrix the squared Frobenius norm ({value:.6f@quantity=||W||_F^2}), '
        'trace(W^T W) ({value:.6f@quantity=trace(W^T W)}) and the plain sum of squared entries '
        '({value:.6f@quantity=sum of W_ij^2}) agree. The Frobenius norm is the L2 norm of the '
        'matrix read as one long vector, which is why weight decay on a matrix is the same w^T w '
        'penalty.'),
    '1.0/oo-design.2': (
        'With save_hyperparameters() the constructor\'s arguments become attributes (self.a '
        'exists); without it they do not, since Python only keeps what __init__ assigns. The '
        'call is a shortcut for writing self.a = a, self.b = b by hand.'),
    '1.0/synthetic-regression-data.3': (
        'A generator kept running gives new batches on the second pass (batch sums '
        '{pass 1 (batch sums):.3g@generator=kept running}, then '
        '{pass 2 (batch sums):.3g@generator=kept running}), so every epoch sees fresh data at no '
        'memory cost. Reseeding the generator at the start of each pass reproduces the first '
        'pass exactly (passes equal: {passes equal@generator=reseeded each pass}), which is how '
        'to get a fixed data set without storing it.'),
    '1.0/softmax-regression-concise.1': (
        'float64 can take exp(x) for x between about '
        '{smallest x (normal result):.0f@format=float64} and {largest x:.0f@format=float64}, '
        'float32 between {smallest x (normal result):.0f@format=float32} and '
        '{largest x:.0f@format=float32} and bfloat16 between '
        '{smallest x (normal result):.0f@format=bfloat16} and {largest x:.0f@format=bfloat16} '
        '(they share an exponent width), but float16 only between '
        '{smallest x (normal result):.1f@format=float16} and {largest x:.1f@format=float16}. '
        'Half precision is where naive softmax breaks first: a logit of 12 already overflows, so '
        'subtracting the maximum is not optional there.'),
    '1.0/mlp.7': (
        "The sigmoid's gradient peaks at {d sigmoid / dx:.2f@x=0} at x = 0 and falls fast: "
        '{d sigmoid / dx:.3g@x=2} at 2, {d sigmoid / dx:.2g@x=5} at 5, {d sigmoid / dx:.2g@x=10} '
        'at 10, and {d sigmoid / dx:.2g@x=20} at 20, where sigmoid(20) rounds to 1 in float32 '
        '(the true gradient, e^-20, is about 2e-9). Chained through 10 layers even the best case '
        'is {product over 10 layers:.2g@x=0}, and at x = 10 it is '
        '{product over 10 layers:.2g@x=10}: saturated units pass back almost nothing.'),
    '0.17/linear-regression-scratch.2': (
        'Gradient descent on R alone, with autograd supplying dloss/dR, fits R = '
        '{value:.2f@quantity=R (ohm), fitted} ohm from 50 noisy readings of a '
        '{value:.0f@quantity=R (ohm), true}-ohm resistor. The gap left is the meter noise (0.05 '
        'V on voltages of at most about 4.7 V), not a failure to converge: more iterations would '
        'not close it, more measurements would.'),
    '1.0/linear-regression-scratch.8': (
        'On clean data the error in w is {error in w:.2g@labels=clean & loss=squared} with the '
        'squared loss, {error in w:.2g@labels=clean & loss=absolute} with the absolute loss and '
        "{error in w:.2g@labels=clean & loss=huber} with Huber's, which has not converged in 3 "
        'epochs. One label set to 10000 wrecks the squared loss (w off by '
        '{error in w:.3g@labels=y[5] = 10000 & loss=squared}, b by '
        '{error in b:.2g@labels=y[5] = 10000 & loss=squared}), while absolute and Huber stay '
        'near their clean values ({error in w:.2g@labels=y[5] = 10000 & loss=absolute} and '
        "{error in w:.2g@labels=y[5] = 10000 & loss=huber} in w), since each example's gradient "
        "is capped. The absolute loss's b error with the outlier "
        '({error in b:.1g@labels=y[5] = 10000 & loss=absolute}, against '
        '{error in b:.1g@labels=clean & loss=absolute} clean) comes from a different SGD path, '
        'luck rather than a benefit; Huber is the compromise that is quadratic near 0.'),
    '0.17/image-classification-dataset.3': (
        'This torchvision install lists {torchvision.datasets.count} Dataset classes, from MNIST '
        'relatives (KMNIST, EMNIST, QMNIST) and CIFAR10/100 to ImageNet, Places365, COCO, VOC, '
        'Kinetics and stereo and optical-flow sets. A few are not data sets but building blocks: '
        'DatasetFolder, ImageFolder, VisionDataset and FakeData, for loading your own files or '
        'testing.'),
    '0.17/environment.2': (
        'A one-feature logistic classifier tells source inputs from target inputs (shifted by '
        '1.5) with accuracy {value:.3f@step=detector: source vs target accuracy}, against the '
        '0.5 it would get if the two sets matched: the covariate shift is detected. It cannot '
        'reach 1 because the two Gaussians overlap, and its logit is exactly what the correction '
        'needs.'),
    '0.17/environment.3': (
        "Weighting each source example by exp(logit), the detector's estimate of q(x)/p(x), "
        "takes the line fit's squared error on the target inputs to "
        '{value:.3f@step=fit reweighted: squared error on target} from '
        '{value:.3f@step=fit unweighted: squared error on target} unweighted. The labelling rule '
        'is the same on both sides, so the gain comes only from spending the fit on the inputs '
        'the target actually has.'),
    '0.17/image-classification-dataset.1': (
        'Batch 1 takes {vs fastest:.0f@batch size=1} times as long as the fastest size measured, '
        'batch {seconds.argmin}, and batch 16 {vs fastest:.1f@batch size=16} times: every batch '
        'pays a fixed cost in Python, whatever its size, so throughput rises steeply at first. '
        'Beyond batch 16 the per-batch cost fades: batch 256 took '
        '{vs fastest:.1f@batch size=256} and batch 1024 {vs fastest:.1f@batch size=1024} times '
        "the fastest's seconds. Each size is timed in turn, so a busy machine can reorder the "
        'larger sizes; rerun on a quiet one before reading more into the right end.'),
    '1.0/mlp-implementation.7': (
        'On this CPU the slowest size, n = {seconds.argmax}, took {vs fastest.max:.2f} times the '
        'seconds of the fastest, n = {seconds.argmin}; the last column has each size\'s ratio, '
        'beside n mod 8. Padding to multiples of 8 matters far more on GPUs, whose tensor cores '
        'work in such tiles. Each size is timed in turn, so a busy machine can make the table '
        'track the load instead; rerun on a quiet one.'),
    '1.0/mlp-implementation.6': (
        'Hand-written matrices and nn.Sequential cost about the same per forward and backward '
        'pass: nn.Sequential took {nn / scratch.min:.2f} to {nn / scratch.max:.2f} times the '
        'hand-written seconds across the sizes. The time grows with the matrix products, from '
        '{scratch s:.2g@network=784-64-10} s at 784-64-10 ({multiply-adds@network=784-64-10} '
        'multiply-adds per example) to {scratch s:.2g@network=784-1024-1024-10} s at '
        '784-1024-1024-10 ({multiply-adds@network=784-1024-1024-10}), not with the framework '
        'layer. Timings taken while other jobs share the machine scatter widely; rerun on a '
        'quiet one.'),
    '1.0/synthetic-regression-data.4': (
        'Creating a new generator seeded with the same number at the start of each pass gives '
        'identical batches every time (batch sums '
        '{pass 1 (batch sums):.3g@generator=reseeded each pass} on both passes: '
        '{passes equal@generator=reseeded each pass}), while one generator left running does not '
        '({passes equal@generator=kept running}). Fixing the seed per pass thus turns on-the-fly '
        'data into a fixed data set that never has to be stored.'),
}
