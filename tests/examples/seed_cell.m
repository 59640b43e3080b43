function [f, df] = seed_cell(W, X, Y, act_type, out_type, error_type, backprop, at_zero, slope, clamp)
% The seed's backprop with its choices as arguments, for a grid cell run through Octave:
% act_type / out_type  sigmoid, tanh, relu, leaky-relu, softplus, identity (out: softmax too)
% error_type           se, ce (logistic, log(max(y, clamp))), cce (softmax's categorical)
% backprop             shortcut (the seed's d3 = y - Y; (y - Y) .* dact(z3) for se) or exact
% at_zero, slope       relu'(0) and the leaky slope; clamp: the eps of max(y, eps)

N=size(X,1); n_inp=size(X,2); n_out=size(Y,2);
n_hid=(numel(W)-n_out)/(n_inp+1+n_out);   % one hidden layer, its width from numel(W)
w1=reshape(W(1:n_hid*(n_inp+1)),n_hid,n_inp+1);
w2=reshape(W(n_hid*(n_inp+1)+1:end),n_out, n_hid+1);

% feedforward
X=[X ones(N,1)];
z2=X*w1'; a2=act(z2,act_type,slope); a2=[a2 ones(N,1)];
z3=a2*w2'; y=act(z3,out_type,slope);

switch error_type
    case 'ce'    % cross entropy error - logistic cost function
        f=-sum(sum( Y.*log(max(y,clamp))+(1-Y).*log(max(1-y,clamp)) ));
    case 'cce'   % categorical cross entropy (the seed's edit)
        f=-sum(sum( Y.*log(max(y,clamp)) ));
    otherwise    % squared error
        f=0.5*sum(sum((y-Y).^2));
end

% backprop
if strcmp(backprop, 'shortcut')
    if strcmp(error_type, 'se')
        d3=(y-Y).*dact(z3,out_type,at_zero,slope);
    else
        d3=y-Y;
    end
else   % the chain rule of the loss as computed: the clamp's slope is 0 where it acts
    switch error_type
        case 'ce'
            g=-Y./max(y,clamp).*(y>clamp)+(1-Y)./max(1-y,clamp).*(1-y>clamp);
        case 'cce'
            g=-Y./max(y,clamp).*(y>clamp);
        otherwise
            g=y-Y;
    end
    if strcmp(out_type, 'softmax')
        d3=y.*(g-sum(g.*y,2));
    else
        d3=g.*dact(z3,out_type,at_zero,slope);
    end
end

df2=d3'*a2;
d2=d3*w2(:,1:end-1).*dact(z2,act_type,at_zero,slope);
df1=d2'*X;

df=[df1(:);df2(:)];

end

function f=act(z,type,slope) % activation function
switch type
    case 'sigmoid'
        f=1./(1+exp(-z));
    case 'tanh'
        f=tanh(z);
    case 'relu'
        f=max(0,z);
    case 'leaky-relu'
        f=max(0,z)+slope*min(0,z);
    case 'softplus'
        f=max(0,z)+log1p(exp(-abs(z)));
    case 'identity'
        f=z;
    case 'softmax'
        e=exp(z-max(z,[],2));
        f=e./sum(e,2);
end
end

function df=dact(z,type,at_zero,slope) % derivative of activation function
switch type
    case 'sigmoid'
        df=act(z,type,slope).*(1-act(z,type,slope));
    case 'tanh'
        df=1-act(z,type,slope).^2;
    case 'relu'
        df=double(z>0)+at_zero*(z==0);
    case 'leaky-relu'
        df=double(z>0)+slope*(z<0)+(slope+at_zero*(1-slope))*(z==0);
    case 'softplus'
        df=1./(1+exp(-z));
    case 'identity'
        df=ones(size(z));
    case 'softmax'   % element-wise, as the shortcut for se takes it
        df=act(z,type,slope).*(1-act(z,type,slope));
end
end
