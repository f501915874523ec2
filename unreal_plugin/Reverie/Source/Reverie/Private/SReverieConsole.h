// The in-game prompt console (Reverie.Console): a text box that sends each line through
// reverie_console_exec (the daemon runs it in the language of `reverie console`: plain text sets the prompt,
// /preset, /steps, /strength, /seed, /transition, /reset, /status, /help, /quit), the
// replies and daemon notices above it, the daemon's presets as buttons, and a live line of
// fps and latency from the daemon's stats events. Up/Down recall earlier lines; Escape or
// /quit closes it.
#pragma once

#include "CoreMinimal.h"
#include "Widgets/SCompoundWidget.h"

class FReverieSession;
class SEditableTextBox;
class SScrollBox;
class SWrapBox;

class SReverieConsole : public SCompoundWidget
{
public:
	SLATE_BEGIN_ARGS(SReverieConsole) {}
		SLATE_ARGUMENT(TSharedPtr<FReverieSession, ESPMode::ThreadSafe>, Session)
		SLATE_EVENT(FSimpleDelegate, OnClose)
	SLATE_END_ARGS()

	void Construct(const FArguments& InArgs);
	virtual ~SReverieConsole() override;

	void FocusInput();

private:
	void Submit(const FString& Line);
	void AddLine(const FString& Text, const FLinearColor& Color);
	void RefreshPresets();
	FText StatsText() const;
	void OnCommitted(const FText& Text, ETextCommit::Type CommitType);
	FReply OnInputKeyDown(const FGeometry& Geometry, const FKeyEvent& KeyEvent);

	TSharedPtr<FReverieSession, ESPMode::ThreadSafe> Session;
	FSimpleDelegate OnClose;
	TSharedPtr<SEditableTextBox> Input;
	TSharedPtr<SScrollBox> Log;
	TSharedPtr<SWrapBox> Presets;
	TArray<TSharedRef<SWidget>> LogLines;
	TArray<FString> History;
	int32 HistoryCursor = INDEX_NONE; // INDEX_NONE: editing a new line
	FDelegateHandle NoticeHandle;
};
