// The compute pass that turns one view's post-tonemap color, device depth and velocity
// buffer into the two textures the plugin reads back (Shaders/Private/ReverieCapture.usf).
#pragma once

#include "CoreMinimal.h"
#include "DataDrivenShaderPlatformInfo.h"
#include "GlobalShader.h"
#include "ShaderParameterStruct.h"
#include "RenderGraphResources.h"

class FReverieCaptureCS : public FGlobalShader
{
public:
	DECLARE_GLOBAL_SHADER(FReverieCaptureCS);
	SHADER_USE_PARAMETER_STRUCT(FReverieCaptureCS, FGlobalShader);

	static constexpr int32 GroupSize = 8;

	BEGIN_SHADER_PARAMETER_STRUCT(FParameters, )
		SHADER_PARAMETER_RDG_TEXTURE(Texture2D, SceneColorTexture)
		SHADER_PARAMETER_RDG_TEXTURE(Texture2D, SceneDepthTexture)
		SHADER_PARAMETER_RDG_TEXTURE(Texture2D, VelocityTexture)
		SHADER_PARAMETER(FIntPoint, ColorMin)     // the color view rect (post-upscale resolution)
		SHADER_PARAMETER(FIntPoint, OutputSize)   // its size: one thread per output pixel
		SHADER_PARAMETER(FIntPoint, DepthMin)     // the depth/velocity view rect (render resolution)
		SHADER_PARAMETER(FIntPoint, DepthMax)
		SHADER_PARAMETER(FVector2f, DepthScale)   // depth rect size / output size
		SHADER_PARAMETER_RDG_TEXTURE_UAV(RWTexture2D<float4>, ColorOutput) // PF_R8G8B8A8
		SHADER_PARAMETER_RDG_TEXTURE_UAV(RWTexture2D<float4>, AuxOutput)   // PF_A32B32G32R32F
	END_SHADER_PARAMETER_STRUCT()

	static bool ShouldCompilePermutation(const FGlobalShaderPermutationParameters& Parameters)
	{
		return IsFeatureLevelSupported(Parameters.Platform, ERHIFeatureLevel::SM5);
	}

	static void ModifyCompilationEnvironment(const FGlobalShaderPermutationParameters& Parameters,
											 FShaderCompilerEnvironment& OutEnvironment)
	{
		FGlobalShader::ModifyCompilationEnvironment(Parameters, OutEnvironment);
		OutEnvironment.SetDefine(TEXT("GROUP_SIZE"), GroupSize);
	}
};
