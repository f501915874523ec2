// The console commands: Reverie.Prompt, Reverie.Steps, Reverie.Strength, Reverie.Console
// (Reverie.Enable is a console variable, in ReverieViewExtension.cpp). They queue their
// request on the steering thread and log the daemon's answer when it comes, so typing one
// never stalls the game, even with the daemon down.
#include "HAL/IConsoleManager.h"
#include "Misc/DefaultValueHelper.h"
#include "ReverieModule.h"
#include "ReverieSession.h"

static TAutoConsoleVariable<int32> CVarReverieTransition(
	TEXT("Reverie.Transition"), 24,
	TEXT("Frames over which Reverie.Prompt blends into a new prompt (0..10000; 0 switches at once)."));

namespace
{
FReverieSession* SessionOrWarn()
{
	FReverieSession* Session = FReverieModule::IsAvailable() ? FReverieModule::Get().GetSession() : nullptr;
	if (!Session)
	{
		UE_LOG(LogReverie, Warning, TEXT("Reverie is off: the library or its client failed to load (see the log)."));
	}
	return Session;
}

// Failures are logged as warnings by the session; successes are confirmed here.
void LogReply(reverie_result Result, const FString& Reply)
{
	if (Result >= 0 && !Reply.IsEmpty())
	{
		UE_LOG(LogReverie, Display, TEXT("%s"), *Reply);
	}
}

void Prompt(const TArray<FString>& Args)
{
	const FString Text = FString::Join(Args, TEXT(" ")).TrimStartAndEnd().TrimQuotes();
	if (FReverieSession* Session = SessionOrWarn())
	{
		const int32 Transition = FMath::Clamp(CVarReverieTransition.GetValueOnGameThread(), 0, 10000);
		Session->SetPrompt(Text, Transition, &LogReply);
	}
}

void Steps(const TArray<FString>& Args)
{
	int32 Value = 0;
	if (Args.Num() != 1 || !FDefaultValueHelper::ParseInt(Args[0], Value))
	{
		UE_LOG(LogReverie, Warning, TEXT("usage: Reverie.Steps N   (denoising steps per frame, 1..8)"));
		return;
	}
	if (FReverieSession* Session = SessionOrWarn())
	{
		Session->SetSteps(Value, &LogReply); // the daemon checks the range and says so
	}
}

void Strength(const TArray<FString>& Args)
{
	double Value = 0.0;
	if (Args.Num() != 1 || !FDefaultValueHelper::ParseDouble(Args[0], Value))
	{
		UE_LOG(LogReverie, Warning, TEXT("usage: Reverie.Strength X   (how far to restyle, 0.0..1.0)"));
		return;
	}
	if (FReverieSession* Session = SessionOrWarn())
	{
		Session->SetStrength(Value, &LogReply);
	}
}

FAutoConsoleCommand PromptCommand(TEXT("Reverie.Prompt"),
								  TEXT("Reverie.Prompt <text>: set the style prompt, blended over Reverie.Transition frames."),
								  FConsoleCommandWithArgsDelegate::CreateStatic(&Prompt));
FAutoConsoleCommand StepsCommand(TEXT("Reverie.Steps"), TEXT("Reverie.Steps N: denoising steps per frame, 1..8."),
								 FConsoleCommandWithArgsDelegate::CreateStatic(&Steps));
FAutoConsoleCommand StrengthCommand(TEXT("Reverie.Strength"),
									TEXT("Reverie.Strength X: how far to restyle the game's image, 0.0..1.0."),
									FConsoleCommandWithArgsDelegate::CreateStatic(&Strength));
FAutoConsoleCommand ToggleConsoleCommand(TEXT("Reverie.Console"),
								   TEXT("Show or hide the Reverie prompt console (prompts, presets, live fps and latency)."),
								   FConsoleCommandDelegate::CreateLambda(
									   []()
									   {
										   if (FReverieModule::IsAvailable())
										   {
											   FReverieModule::Get().ToggleConsole();
										   }
									   }));
} // namespace
