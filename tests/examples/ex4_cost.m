function [J, grad] = ex4_cost(nn_params, input_layer_size, hidden_layer_size, ...
                              num_labels, X, y, lambda)
%EX4_COST A two-layer classifier in the ML course's ex4 style, for relu-diag's tests:
%   Theta1 (hidden x input+1) and Theta2 (labels x hidden+1) with the bias as the first
%   column, unrolled as nn_params = [Theta1(:); Theta2(:)]; labels y in 1..num_labels;
%   sigmoid units; the mean logistic cost plus lambda/(2m) times the squared weights outside
%   the bias column. Its bugs live in ex4_bias_reg.m and ex4_no_sig_grad.m.

n1 = hidden_layer_size * (input_layer_size + 1);
Theta1 = reshape(nn_params(1:n1), hidden_layer_size, input_layer_size + 1);
Theta2 = reshape(nn_params(n1 + 1:end), num_labels, hidden_layer_size + 1);
m = size(X, 1);

a1 = [ones(m, 1) X];
z2 = a1 * Theta1';
a2 = [ones(m, 1) sigmoid(z2)];
z3 = a2 * Theta2';
a3 = sigmoid(z3);

Y = double(bsxfun(@eq, y(:), 1:num_labels));   % one row per sample, a one at its label
cost = -Y .* log(a3) - (1 - Y) .* log(1 - a3);
penalty = sum(sum(Theta1(:, 2:end) .^ 2)) + sum(sum(Theta2(:, 2:end) .^ 2));
J = sum(cost(:)) / m + lambda / (2 * m) * penalty;

d3 = a3 - Y;
d2 = (d3 * Theta2(:, 2:end)) .* sigmoidGradient(z2);
Theta1_grad = (d2' * a1) / m;
Theta2_grad = (d3' * a2) / m;
Theta1_grad(:, 2:end) = Theta1_grad(:, 2:end) + (lambda / m) * Theta1(:, 2:end);
Theta2_grad(:, 2:end) = Theta2_grad(:, 2:end) + (lambda / m) * Theta2(:, 2:end);

grad = [Theta1_grad(:); Theta2_grad(:)];
end

function s = sigmoid(z)
s = 1 ./ (1 + exp(-z));
end

function g = sigmoidGradient(z)
s = sigmoid(z);
g = s .* (1 - s);
end
