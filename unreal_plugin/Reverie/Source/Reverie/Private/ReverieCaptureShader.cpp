#include "ReverieCaptureShader.h"

IMPLEMENT_GLOBAL_SHADER(FReverieCaptureCS, "/Plugin/Reverie/Private/ReverieCapture.usf", "MainCS", SF_Compute);
