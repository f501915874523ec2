"""The ground floor: what every package may import (the stylizer contract, CLI argument
helpers); it imports none of them."""
